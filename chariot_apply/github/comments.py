"""One sticky pull-request comment per manifest set, found again by a hidden marker and updated in place."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

#: GitHub refuses comment bodies longer than this.
COMMENT_LIMIT = 65_536
LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ReadOnlyToken(GitHubError):
    """403: the token may not write (a pull request from a fork gets a read-only token)."""


class BodyTooLarge(GitHubError):
    pass


@dataclass(frozen=True)
class PullRequest:
    repository: str  # owner/name
    number: int


def pull_request_from_event(event_path: str | None, repository: str | None) -> PullRequest | None:
    """The pull request of a ``pull_request`` / ``pull_request_target`` event payload, else None."""
    if not event_path or not Path(event_path).is_file():
        return None
    payload = json.loads(Path(event_path).read_text("utf-8"))
    pull = payload.get("pull_request")
    if not isinstance(pull, dict) or "number" not in pull:
        return None
    repo = repository or (payload.get("repository") or {}).get("full_name")
    return PullRequest(repo, int(pull["number"])) if repo else None


def marker_for(manifest_set: str) -> str:
    return f"<!-- chariot-apply:plan:{manifest_set} -->"


class GitHubComments:
    def __init__(self, api_url: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=api_url.rstrip("/"), transport=transport, timeout=30,
                                  headers={"Authorization": f"Bearer {token}",
                                           "Accept": "application/vnd.github+json",
                                           "X-GitHub-Api-Version": "2022-11-28",
                                           "User-Agent": "chariot-apply"})

    def close(self) -> None:
        self._http.close()

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.is_success:
            return response
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        if response.status_code == 403:
            raise ReadOnlyToken(f"GitHub refused to write: {message}", 403)
        if response.status_code == 422:
            raise BodyTooLarge(f"GitHub refused the comment: {message}", 422)
        raise GitHubError(f"GitHub answered {response.status_code}: {message}", response.status_code)

    def list_comments(self, pr: PullRequest) -> list[dict]:
        """Every comment of the pull request, following ``Link: rel="next"`` pages."""
        url: str | None = f"/repos/{pr.repository}/issues/{pr.number}/comments?per_page=100"
        comments: list[dict] = []
        while url:
            response = self._check(self._http.get(url))
            comments += response.json()
            found = LINK_NEXT.search(response.headers.get("link", ""))
            url = found.group(1) if found else None
        return comments

    def create(self, pr: PullRequest, body: str) -> dict:
        return self._check(self._http.post(f"/repos/{pr.repository}/issues/{pr.number}/comments",
                                           json={"body": body})).json()

    def update(self, pr: PullRequest, comment_id: int, body: str) -> dict:
        return self._check(self._http.patch(f"/repos/{pr.repository}/issues/comments/{comment_id}",
                                            json={"body": body})).json()


Upserted = Literal["created", "updated", "unchanged", "skipped"]


def upsert_sticky(github: GitHubComments, pr: PullRequest, marker: str, body: str, *,
                  create_if_missing: bool = True) -> Upserted:
    """Update the comment carrying ``marker`` (the newest, if several), or create it."""
    text = f"{marker}\n{body}"
    existing = [c for c in github.list_comments(pr) if marker in (c.get("body") or "")]
    if existing:
        comment = existing[-1]
        if comment.get("body") == text:
            return "unchanged"
        github.update(pr, comment["id"], text)
        return "updated"
    if not create_if_missing:
        return "skipped"
    github.create(pr, text)
    return "created"
