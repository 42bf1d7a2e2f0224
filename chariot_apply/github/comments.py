"""One sticky pull-request comment per manifest set, found again by a hidden marker and updated in place."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from chariot_apply.errors import UserError

#: GitHub refuses comment bodies longer than this.
COMMENT_LIMIT = 65_536
LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(UserError):
    """GitHub could not be reached, refused, or answered something we cannot read. Every failure of the
    GitHub API is turned into this at one place (``GitHubComments._call``); nothing above sees httpx."""

    hint = "check GITHUB_API_URL, the github-token's permissions, and GitHub's status"

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


class EventError(UserError):
    hint = "GITHUB_EVENT_PATH must name the runner's event payload (a JSON file); run this inside GitHub Actions"


def pull_request_from_event(event_path: str | None, repository: str | None) -> PullRequest | None:
    """The pull request of a ``pull_request`` / ``pull_request_target`` event payload, else None."""
    if not event_path or not Path(event_path).is_file():
        return None
    try:
        payload = json.loads(Path(event_path).read_bytes())
    except (OSError, ValueError) as exc:
        raise EventError(f"cannot read the event payload {event_path}: {exc}") from None
    pull = payload.get("pull_request") if isinstance(payload, dict) else None
    if not isinstance(pull, dict) or "number" not in pull:
        return None
    number = pull["number"]
    if not isinstance(number, int) or isinstance(number, bool):
        raise EventError(f"the event payload {event_path} has a pull_request.number that is not a number")
    repository_ = payload.get("repository")
    repo = repository or (repository_.get("full_name") if isinstance(repository_, dict) else None)
    return PullRequest(repo, number) if isinstance(repo, str) and repo else None


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

    def _call(self, method: str, url: str, body: dict[str, str] | None = None) -> httpx.Response:
        """One request; every way it can fail becomes a ``GitHubError`` here."""
        try:
            response = self._http.request(method, url, json=body)
        except httpx.TimeoutException:
            raise GitHubError(f"GitHub did not answer {method} {url} in time") from None
        except httpx.HTTPError as exc:
            raise GitHubError(f"cannot reach GitHub ({self._http.base_url}): {exc}") from None
        return self._check(response)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise GitHubError(f"GitHub answered {response.request.url} with something that is not JSON",
                              response.status_code) from None

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.is_success:
            return response
        try:
            answer = response.json()
            message = answer.get("message", response.text) if isinstance(answer, dict) else response.text
        except ValueError:
            message = response.text[:200]
        if response.status_code == 403:
            raise ReadOnlyToken(f"GitHub refused to write: {message}", 403)
        if response.status_code == 422:
            raise BodyTooLarge(f"GitHub refused the comment: {message}", 422)
        raise GitHubError(f"GitHub answered {response.status_code}: {message}", response.status_code)

    def list_comments(self, pr: PullRequest) -> list[Comment]:
        """Every comment of the pull request, following ``Link: rel="next"`` pages."""
        url: str | None = f"/repos/{pr.repository}/issues/{pr.number}/comments?per_page=100"
        comments: list[Comment] = []
        while url:
            response = self._call("GET", url)
            page = self._json(response)
            if not isinstance(page, list):
                raise GitHubError(f"GitHub answered {url} with {type(page).__name__}, not a list of comments")
            comments += [_comment(c) for c in page]
            found = LINK_NEXT.search(response.headers.get("link", ""))
            url = found.group(1) if found else None
        return comments

    def create(self, pr: PullRequest, body: str) -> Comment:
        url = f"/repos/{pr.repository}/issues/{pr.number}/comments"
        return _comment(self._json(self._call("POST", url, {"body": body})))

    def update(self, pr: PullRequest, comment_id: int, body: str) -> Comment:
        url = f"/repos/{pr.repository}/issues/comments/{comment_id}"
        return _comment(self._json(self._call("PATCH", url, {"body": body})))


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    user: str | None


def _comment(data: Any) -> Comment:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise GitHubError("GitHub answered with a comment we cannot read (no numeric id)")
    user = data.get("user")
    return Comment(data["id"], data.get("body") or "", user.get("login") if isinstance(user, dict) else None)


Upserted = Literal["created", "updated", "unchanged", "skipped"]


def upsert_sticky(github: GitHubComments, pr: PullRequest, marker: str, body: str, *,
                  create_if_missing: bool = True) -> Upserted:
    """Update the comment carrying ``marker`` (the newest, if several), or create it."""
    text = f"{marker}\n{body}"
    existing = [c for c in github.list_comments(pr) if marker in c.body]
    if existing:
        comment = existing[-1]
        if comment.body == text:
            return "unchanged"
        github.update(pr, comment.id, text)
        return "updated"
    if not create_if_missing:
        return "skipped"
    github.create(pr, text)
    return "created"
