-- airlock store schema: the decoded, redacted detail a person reads before deciding on an approval
-- (JSON, see approval_detail.rs); NULL for approvals created before it existed.
ALTER TABLE approvals ADD COLUMN detail TEXT;
