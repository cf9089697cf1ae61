//! A fresh `$AIRLOCK_HOME` (and `$HOME`) in a temp dir for end-to-end tests of the `airlock` binary: runs the
//! built binary there with or without an approver secret, opens the same SQLite store through the library, and
//! removes the directory when dropped.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use airlock_store::Store;

pub struct Home(pub PathBuf);

impl Home {
    /// `suite` and `name` keep parallel tests (and test binaries) apart.
    pub fn new(suite: &str, name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("airlock-cli-{suite}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Home(dir)
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("airlock.db").display())
    }

    pub fn airlock(&self, args: &[&str], secret: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
        cmd.args(args)
            .env("AIRLOCK_HOME", &self.0)
            .env("HOME", &self.0)
            .env("USER", "tester")
            .env_remove("AIRLOCK_DATABASE_URL")
            .env_remove("AIRLOCK_APPROVER_SECRET")
            .stdin(Stdio::null());
        if let Some(secret) = secret {
            cmd.env("AIRLOCK_APPROVER_SECRET", secret);
        }
        cmd.output().unwrap()
    }

    /// Runs `airlock ARGS`, asserts exit 0, returns stdout.
    pub fn ok(&self, args: &[&str], secret: Option<&str>) -> String {
        let out = self.airlock(args, secret);
        assert_eq!(
            out.status.code(),
            Some(0),
            "airlock {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `airlock ARGS`, asserts it exited non-zero (an error, not a signal), returns stderr.
    pub fn fails(&self, args: &[&str], secret: Option<&str>) -> String {
        let out = self.airlock(args, secret);
        assert!(
            out.status.code().is_some_and(|code| code != 0),
            "airlock {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Runs `work` on the store of this home, as hooks and the gateway write it.
    pub fn store<T>(&self, work: impl AsyncFnOnce(Store) -> T) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = Store::open(&self.url()).await.unwrap();
            let out = work(store.clone()).await;
            store.close().await;
            out
        })
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
