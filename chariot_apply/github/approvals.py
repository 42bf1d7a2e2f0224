"""Approvals, not labels, for what is dangerous: a label is a signal anyone with triage rights (or the pull
request's own workflow) can set; an approving review from someone who can write to the repository, given on
the pull request's last commit, is a permission. Read through the reviews API."""

from __future__ import annotations

from chariot_apply.github.api import GitHubApi, GitHubError

WRITERS = frozenset({"admin", "write", "maintain"})


def approver(api: GitHubApi, repository: str, number: int, head_sha: str) -> tuple[str | None, str]:
    """(who approved pull request ``number`` at ``head_sha`` with write access, or None; what was found). Each
    reviewer's latest verdict counts (a later "changes requested" or a dismissal withdraws an approval); one
    given before the last push approved other code."""
    try:
        latest: dict[str, tuple[str, str]] = {}
        for review in api.pull_reviews(repository, number):
            if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                latest[review.login] = (review.state, review.commit_id)
        stale = [login for login, (state, commit) in latest.items() if state == "APPROVED" and commit != head_sha]
        for login, (state, commit) in latest.items():
            if state == "APPROVED" and commit == head_sha and not login.endswith("[bot]") and \
                    api.permission(repository, login) in WRITERS:
                return login, f"approved by {login} on {head_sha[:12]}"
    except GitHubError as exc:
        return None, f"GitHub could not say who approved pull request #{number} ({exc}; pull-requests: read?)"
    if stale:
        return None, (f"pull request #{number} was approved by {', '.join(sorted(stale))} before its last push "
                      f"({head_sha[:12]}): approve it again")
    return None, (f"pull request #{number} has no approving review on {head_sha[:12]} from someone with write "
                  "access")
