//! `airlock approvals list|show|watch|approve|deny`: held requests and the people who decide on them. `show`
//! prints the decoded detail (the same one the web page shows) with the spans that triggered a rule
//! underlined in a terminal, or marked `^^^` on the next line otherwise; `watch` prints new pending requests
//! as they arrive. Every subcommand needs an approver secret (`AIRLOCK_APPROVER_SECRET`, or a prompt in a
//! terminal); an agent token is refused.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::ops::Range;
use std::time::Duration;

use airlock_store::clock::{Clock as _, Millis, SystemClock};
use airlock_store::{Approval, ApprovalDetail, AuthenticatedApprover, Store, clock};
use clap::Subcommand;

use super::home;

/// `airlock approvals` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List pending approvals (newest first).
    List {
        /// Include decided, expired and consumed approvals.
        #[arg(long)]
        all: bool,
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one approval: the request summary, digest, reasons and votes.
    Show {
        /// Approval id (`apr_…`).
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print pending requests as they arrive (those already pending first) until Ctrl-C.
    Watch {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// How often to look for new requests, in milliseconds.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
    },
    /// Approve a held request (it can then run once, exactly as it was asked).
    Approve {
        /// Approval id.
        id: String,
    },
    /// Deny a held request.
    Deny {
        /// Approval id.
        id: String,
        /// Why (recorded and shown to the agent).
        #[arg(long)]
        reason: String,
    },
}

async fn authenticate(store: &Store) -> anyhow::Result<AuthenticatedApprover> {
    let secret = home::approver_secret()?;
    Ok(store.authenticate_approver(&secret).await?)
}

/// Runs `airlock approvals`.
pub fn run(command: ApprovalsCommand) -> anyhow::Result<i32> {
    match command {
        ApprovalsCommand::List { all, json } => {
            let approvals = home::with_store(|store| async move {
                authenticate(&store).await?;
                Ok(store.list_approvals(all).await?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approvals)?);
            } else if approvals.is_empty() {
                println!(
                    "{}",
                    if all {
                        "no approvals"
                    } else {
                        "no pending approvals"
                    }
                );
            } else {
                print!("{}", render_table(&approvals, SystemClock.now_ms()));
            }
            Ok(0)
        }
        ApprovalsCommand::Show { id, json } => {
            let approval = home::with_store(|store| async move {
                authenticate(&store).await?;
                Ok(store.approval(&id).await?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approval)?);
            } else {
                let ansi = std::io::stdout().is_terminal();
                print!("{}", render_approval(&approval, SystemClock.now_ms(), ansi));
            }
            Ok(0)
        }
        ApprovalsCommand::Watch { json, interval_ms } => {
            home::with_store(|store| async move {
                authenticate(&store).await?;
                tokio::select! {
                    result = watch(&store, json, Duration::from_millis(interval_ms.max(50))) => result,
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            })?;
            Ok(0)
        }
        ApprovalsCommand::Approve { id } => {
            let approval = home::with_store(|store| async move {
                let approver = authenticate(&store).await?;
                Ok(store.approve(&id, &approver).await?)
            })?;
            match approval.state {
                airlock_store::ApprovalState::Approved => {
                    println!(
                        "approved {}: it may run once, exactly as requested",
                        approval.id
                    )
                }
                _ => println!(
                    "recorded approval {} of {} for {}; waiting for another approver",
                    approve_votes(&approval),
                    approval.required,
                    approval.id
                ),
            }
            Ok(0)
        }
        ApprovalsCommand::Deny { id, reason } => {
            let approval = home::with_store(|store| async move {
                let approver = authenticate(&store).await?;
                Ok(store.deny(&id, &approver, &reason).await?)
            })?;
            println!("denied {}", approval.id);
            Ok(0)
        }
    }
}

fn approve_votes(a: &Approval) -> usize {
    a.votes.iter().filter(|v| v.vote == "approve").count()
}

/// Polls the store and prints each pending approval once, oldest first.
async fn watch(store: &Store, json: bool, interval: Duration) -> anyhow::Result<()> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    loop {
        let pending = store.list_approvals(false).await?;
        for approval in pending.iter().rev() {
            if !seen.insert(approval.id.clone()) {
                continue;
            }
            if json {
                println!("{}", serde_json::to_string(approval)?);
            } else {
                println!("{}", watch_line(approval, SystemClock.now_ms()));
            }
        }
        tokio::time::sleep(interval).await;
    }
}

fn headline(a: &Approval) -> &str {
    a.detail()
        .map_or(a.summary.as_str(), |d| d.headline.as_str())
}

fn watch_line(a: &Approval, now: Millis) -> String {
    let detail = a.detail();
    format!(
        "{}  {}  {}  {}{}  {}  (expires in {}, {} approval{} needed)",
        clock::format_ms(a.created_ms),
        a.id,
        a.kind,
        a.requester,
        detail
            .and_then(|d| d.environment.as_deref())
            .map(|e| format!(" [{e}]"))
            .unwrap_or_default(),
        printable(headline(a)),
        duration(a.expires_ms.saturating_sub(now)),
        a.required,
        if a.required == 1 { "" } else { "s" }
    )
}

/// `42s`, `5m 3s`, `2h 10m`, `3d 4h`.
fn duration(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// The table `approvals list` prints.
fn render_table(approvals: &[Approval], now: Millis) -> String {
    let mut out = format!(
        "{:<20}  {:<7}  {:<10}  {:<5}  {:<14}  {:<5}  {:<9}  HEADLINE\n",
        "ID", "AGE", "EXPIRES IN", "KIND", "AGENT", "VOTES", "STATE"
    );
    for a in approvals {
        let expires = if a.state == airlock_store::ApprovalState::Pending
            || a.state == airlock_store::ApprovalState::Approved
        {
            duration(a.expires_ms.saturating_sub(now))
        } else {
            "-".to_string()
        };
        out.push_str(&format!(
            "{:<20}  {:<7}  {:<10}  {:<5}  {:<14}  {:<5}  {:<9}  {}\n",
            a.id,
            duration(now.saturating_sub(a.created_ms)),
            expires,
            a.kind,
            printable(&airlock_store::redact::truncate_chars(&a.requester, 14)),
            format!("{}/{}", approve_votes(a), a.required),
            a.state.as_str(),
            printable(&airlock_store::redact::truncate_chars(headline(a), 90)),
        ));
    }
    out
}

/// A character as it is safe to print: control characters (which could move the cursor or recolour the
/// terminal, hiding what a request really does) are shown escaped.
fn printable_char(c: char) -> String {
    if c.is_control() && c != '\t' {
        c.escape_default().to_string()
    } else {
        c.to_string()
    }
}

fn printable(text: &str) -> String {
    text.chars().map(printable_char).collect()
}

/// `text` with `highlights` (byte ranges) underlined (`ansi`), or followed on each line by a `^^^` marker
/// line under the highlighted characters.
fn render_highlighted(text: &str, highlights: &[Range<usize>], ansi: bool) -> String {
    let mut out = String::new();
    let mut at = 0;
    for line in text.split('\n') {
        let mut rendered = String::new();
        let mut marker = String::new();
        let mut underlined = false;
        for (offset, c) in line.char_indices() {
            let byte = at + offset;
            let lit = highlights.iter().any(|h| h.contains(&byte));
            let shown = printable_char(c);
            if ansi && lit != underlined {
                rendered.push_str(if lit { "\x1b[4m" } else { "\x1b[24m" });
                underlined = lit;
            }
            let width = shown.chars().count();
            marker.push_str(&(if lit { "^" } else { " " }).repeat(width));
            rendered.push_str(&shown);
        }
        if underlined {
            rendered.push_str("\x1b[24m");
        }
        out.push_str(&rendered);
        out.push('\n');
        if !ansi && marker.contains('^') {
            out.push_str(marker.trim_end());
            out.push('\n');
        }
        at += line.len() + 1;
    }
    out
}

/// The decoded detail: headline, context, each section, the rules.
fn render_detail(detail: &ApprovalDetail, ansi: bool) -> String {
    let mut out = format!("headline   {}\n", printable(&detail.headline));
    for (label, value) in [
        ("upstream", &detail.upstream),
        ("environment", &detail.environment),
    ] {
        if let Some(value) = value {
            out.push_str(&format!("{label:<10} {}\n", printable(value)));
        }
    }
    for section in &detail.sections {
        out.push_str(&format!("\n── {} ──\n", printable(&section.title)));
        out.push_str(&render_highlighted(
            &section.text,
            &section.highlights,
            ansi,
        ));
    }
    if !detail.rules.is_empty() {
        out.push_str("\nrules\n");
        for rule in &detail.rules {
            let policy = rule
                .policy
                .as_deref()
                .map(|p| format!(" (policy {p})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {}{}: {}\n",
                printable(&rule.rule),
                printable(&policy),
                printable(&rule.message)
            ));
        }
    }
    out
}

/// What `approvals show` prints.
fn render_approval(a: &Approval, now: Millis, ansi: bool) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<10} {value}\n"));
    line("approval", a.id.clone());
    line("state", a.state.as_str().to_string());
    line("kind", a.kind.clone());
    line(
        "requester",
        format!(
            "{}{}",
            printable(&a.requester),
            a.session
                .as_deref()
                .map(|s| format!(" (session {})", printable(s)))
                .unwrap_or_default()
        ),
    );
    line("request", printable(&a.summary));
    line("digest", a.digest.clone());
    line("created", clock::format_ms(a.created_ms));
    let left = if now < a.expires_ms {
        format!(" (in {})", duration(a.expires_ms - now))
    } else {
        String::new()
    };
    line(
        "expires",
        format!("{}{left}", clock::format_ms(a.expires_ms)),
    );
    line(
        "approvals",
        format!("{} of {} needed", approve_votes(a), a.required),
    );
    match a.detail() {
        Some(detail) => out.push_str(&render_detail(detail, ansi)),
        None => {
            if let Some(reasons) = a.reasons.as_array() {
                for r in reasons {
                    let rule = r.get("rule").and_then(|v| v.as_str()).unwrap_or("-");
                    let message = r.get("message").and_then(|v| v.as_str()).unwrap_or("");
                    out.push_str(&format!(
                        "reason     {}: {}\n",
                        printable(rule),
                        printable(message)
                    ));
                }
            }
        }
    }
    if !a.votes.is_empty() {
        out.push('\n');
    }
    for v in &a.votes {
        let reason = v
            .reason
            .as_deref()
            .map(|r| format!(": {}", printable(r)))
            .unwrap_or_default();
        out.push_str(&format!(
            "vote       {} {} at {}{reason}\n",
            printable(&v.approver),
            v.vote,
            clock::format_ms(v.ts_ms)
        ));
    }
    if let Some(reason) = &a.deny_reason {
        out.push_str(&format!("denied     {}\n", printable(reason)));
    }
    out
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::single_range_in_vec_init,
    reason = "tests"
)]
mod tests {
    use super::*;

    #[test]
    fn highlights_are_marked_under_the_right_characters() {
        let text = "cd /srv && rm -rf data\nls";
        let at = text.find("rm -rf").unwrap();
        let plain = render_highlighted(text, &[at..at + 6], false);
        assert_eq!(plain, "cd /srv && rm -rf data\n           ^^^^^^\nls\n");
        let ansi = render_highlighted(text, &[at..at + 6], true);
        assert_eq!(ansi, "cd /srv && \x1b[4mrm -rf\x1b[24m data\nls\n");
    }

    #[test]
    fn control_characters_cannot_hide_a_command() {
        let text = "echo ok\x1b[2K\rrm -rf /";
        let out = render_highlighted(text, &[], false);
        assert!(!out.contains('\x1b') && !out.contains('\r'), "{out:?}");
        assert!(out.contains("rm -rf /"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(42_000), "42s");
        assert_eq!(duration(303_000), "5m 3s");
        assert_eq!(duration(7_800_000), "2h 10m");
        assert_eq!(duration(-5), "0s");
    }
}
