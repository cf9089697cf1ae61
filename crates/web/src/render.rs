//! The pages' HTML (maud: every interpolated value is HTML-escaped unless wrapped in `PreEscaped`, which this
//! file never does with data).

use std::ops::Range;

use airlock_store::{Approval, ApprovalState, AuditEntry, VerifyReport};
use maud::{DOCTYPE, Markup, html};

/// Who is looking, and the token their forms carry.
pub struct Viewer<'a> {
    pub name: &'a str,
    pub csrf: &'a str,
}

fn layout(title: &str, viewer: Option<&Viewer<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · airlock" }
                link rel="stylesheet" href="/assets/approvals.css";
            }
            body {
                header {
                    strong.brand { "airlock" }
                    @if let Some(viewer) = viewer {
                        nav {
                            a href="/approvals" { "Pending" }
                            a href="/approvals/history" { "History" }
                            a href="/audit" { "Audit log" }
                        }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            span.who { "Signed in as " b { (viewer.name) } }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The login form.
pub fn login(login_csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            h1 { "Approver login" }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.login method="post" action="/login" {
                input type="hidden" name="csrf" value=(login_csrf);
                label for="secret" { "Approver secret (ala_…)" }
                input #secret type="password" name="secret" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
            p.hint { "An approver secret comes from " code { "airlock approver add NAME" } ". Agent tokens (alt_…) cannot approve." }
        },
    )
}

/// Human duration: `12 min 5 s`.
fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// `2026-11-26 21:10:03 UTC`.
fn timestamp(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// `text` with the `highlights` (byte ranges) in `<mark>`; a range not on char boundaries is ignored.
fn highlighted(text: &str, highlights: &[Range<usize>]) -> Markup {
    let mut pieces: Vec<(&str, bool)> = Vec::new();
    let mut at = 0;
    for range in highlights {
        let (Some(before), Some(marked)) = (text.get(at..range.start), text.get(range.clone()))
        else {
            continue;
        };
        pieces.push((before, false));
        pieces.push((marked, true));
        at = range.end;
    }
    pieces.push((text.get(at..).unwrap_or_default(), false));
    html! {
        @for (piece, marked) in pieces {
            @if marked { mark { (piece) } } @else { (piece) }
        }
    }
}

fn approvals_given(approval: &Approval) -> usize {
    approval
        .votes
        .iter()
        .filter(|v| v.vote == "approve")
        .count()
}

fn reasons_fallback(approval: &Approval) -> Markup {
    let text = serde_json::to_string_pretty(&approval.reasons).unwrap_or_default();
    html! { h3 { "Reasons" } pre { (text) } }
}

/// One approval, decoded.
fn approval_card(approval: &Approval, now_ms: i64, viewer: &Viewer<'_>) -> Markup {
    let detail = approval.detail();
    let pending = approval.state == ApprovalState::Pending;
    html! {
        article.approval id=(approval.id) data-state=(approval.state.as_str()) {
            div.meta {
                span.kind { (detail.map_or(approval.kind.as_str(), |d| d.kind.as_str())) }
                span { "agent " b { (detail.and_then(|d| d.agent.as_deref()).unwrap_or(&approval.requester)) } }
                @if let Some(upstream) = detail.and_then(|d| d.upstream.as_deref()) { span { "upstream " b { (upstream) } } }
                @if let Some(environment) = detail.and_then(|d| d.environment.as_deref()) {
                    span.env data-env=(environment) { "environment " b { (environment) } }
                }
                a.id href={ "#" (approval.id) } { (approval.id) }
            }
            h2.headline { (detail.map_or(approval.summary.as_str(), |d| d.headline.as_str())) }
            @match detail {
                Some(detail) => {
                    @for section in &detail.sections {
                        h3 { (section.title) }
                        pre { (highlighted(&section.text, &section.highlights)) }
                    }
                    @if !detail.rules.is_empty() {
                        h3 { "Rules" }
                        ul.rules {
                            @for rule in &detail.rules {
                                li {
                                    code { (rule.rule) }
                                    @if let Some(policy) = &rule.policy { " (policy " code { (policy) } ")" }
                                    " — " (rule.message)
                                }
                            }
                        }
                    }
                }
                None => {
                    pre { (approval.summary) }
                    (reasons_fallback(approval))
                }
            }
            div.status {
                @if pending {
                    span.left { (duration(approval.expires_ms - now_ms)) " left (expires " (timestamp(approval.expires_ms)) ")" }
                } @else {
                    span.state { (approval.state.as_str()) }
                    @if let Some(decided) = approval.decided_ms { " · decided " (timestamp(decided)) }
                    @if let Some(reason) = &approval.deny_reason { " · reason: " q { (reason) } }
                }
                @if approval.required > 1 {
                    span.count { (approvals_given(approval)) " of " (approval.required) " approvals" }
                }
                span.created { "asked " (timestamp(approval.created_ms)) }
            }
            @if !approval.votes.is_empty() {
                ul.votes {
                    @for vote in &approval.votes {
                        li { b { (vote.approver) } " " (if vote.vote == "approve" { "approved" } else if vote.vote == "deny" { "denied" } else { vote.vote.as_str() }) " at " (timestamp(vote.ts_ms))
                            @if let Some(reason) = &vote.reason { ": " q { (reason) } } }
                    }
                }
            }
            @if pending {
                div.actions {
                    form method="post" action={ "/approvals/" (approval.id) "/approve" } {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        button.approve type="submit" { "Approve" }
                    }
                    form method="post" action={ "/approvals/" (approval.id) "/deny" } {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        input type="text" name="reason" placeholder="Reason for denying" required;
                        button.deny type="submit" { "Deny" }
                    }
                }
            }
        }
    }
}

/// A list of approvals (pending or decided).
pub fn approvals(
    title: &str,
    list: &[Approval],
    now_ms: i64,
    viewer: &Viewer<'_>,
    notice: Option<&str>,
) -> Markup {
    layout(
        title,
        Some(viewer),
        html! {
            h1 { (title) " (" (list.len()) ")" }
            @if let Some(notice) = notice { p.error role="alert" { (notice) } }
            @if list.is_empty() { p.empty { "Nothing here." } }
            @for approval in list { (approval_card(approval, now_ms, viewer)) }
        },
    )
}

/// The audit log's recent entries and whether the chain verifies.
pub fn audit(entries: &[AuditEntry], report: Option<&VerifyReport>, viewer: &Viewer<'_>) -> Markup {
    layout(
        "Audit log",
        Some(viewer),
        html! {
            h1 { "Audit log" }
            @match report {
                Some(report) if report.is_ok() => p.verify.ok { "Chain verified: " (report.count) " entries, head " code { (report.head) } },
                Some(report) => p.verify.bad role="alert" { "Chain does NOT verify: "
                    (report.problem.as_ref().map(|p| p.message.as_str()).unwrap_or_default()) },
                None => p.verify.bad role="alert" { "Cannot verify the chain: the store does not answer." },
            }
            table.audit {
                thead { tr { th { "#" } th { "time" } th { "agent" } th { "kind" } th { "decision" } th { "outcome" } th { "summary" } th { "approval" } } }
                tbody {
                    @for e in entries {
                        tr {
                            td { (e.seq) } td { (timestamp(e.ts_ms)) } td { (e.agent.as_deref().unwrap_or("")) }
                            td { (e.kind) } td.decision data-decision=(e.decision) { (e.decision) } td { (e.outcome) }
                            td.summary { (e.summary) }
                            td { @if let Some(id) = &e.approval_id { a href={ "/approvals/" (id) } { (id) } } }
                        }
                    }
                }
            }
        },
    )
}

/// A short page for an error (e.g. a refused POST).
pub fn problem(title: &str, message: &str) -> Markup {
    layout(
        title,
        None,
        html! { h1 { (title) } p.error role="alert" { (message) } p { a href="/approvals" { "Back to approvals" } } },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_are_marked_and_text_escaped() {
        let text = "rm -rf <b>/data</b>";
        let html = highlighted(text, &[Range { start: 3, end: 6 }]).into_string();
        assert_eq!(html, "rm <mark>-rf</mark> &lt;b&gt;/data&lt;/b&gt;");
    }

    #[test]
    fn a_range_off_char_boundaries_is_ignored() {
        let html = highlighted("é!", &[Range { start: 1, end: 2 }]).into_string();
        assert_eq!(html, "é!");
    }
}
