"""GitHub's REST API, the parts chariot-apply uses, behind one error boundary.

GitHub is a foreign system like Chariot: every way a call can fail (unreachable, timed out, refused, an
answer that is not JSON) becomes a ``GitHubError`` in ``GitHubApi._call``; nothing above sees httpx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError

LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
#: Who writes with a workflow's GITHUB_TOKEN (it may not ask GET /user who it is).
ACTIONS_BOT = "github-actions[bot]"


class GitHubError(UserError):
    """GitHub could not be reached, refused, or answered something we cannot read."""

    code = codes.GITHUB_API
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


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    user: str | None


@dataclass(frozen=True)
class Issue:
    number: int
    body: str
    user: str | None
    state: str


@dataclass(frozen=True)
class MergedPull:
    """A pull request a commit belongs to (``GET /repos/{repo}/commits/{sha}/pulls``)."""

    number: int
    head_sha: str
    merge_commit_sha: str | None
    merged: bool
    base_sha: str = ""  # the base branch's commit the pull request was opened against
    labels: tuple[str, ...] = ()


def label_names(labels: object) -> tuple[str, ...]:
    """The names in a pull request's ``labels`` (a list of objects with a ``name``)."""
    return tuple(str(label["name"]) for label in labels if isinstance(label, dict) and "name" in label) \
        if isinstance(labels, list) else ()


@dataclass(frozen=True)
class WorkflowRun:
    """A run of a workflow (``GET /repos/{repo}/actions/runs/{id}``): which file, on which commit, where."""

    id: int
    repository: str
    head_sha: str
    path: str  # ``.github/workflows/x.yml`` (GitHub may prefix ``owner/repo/`` and suffix ``@ref``)
    event: str
    status: str = ""  # queued, in_progress, waiting, completed, ...

    @property
    def active(self) -> bool:
        return self.status not in ("completed", "")


@dataclass(frozen=True)
class Artifact:
    """A workflow run's artifact (``GET /repos/{repo}/actions/runs/{id}/artifacts``)."""

    id: int
    name: str
    run_id: int | None
    expired: bool
    size: int


@dataclass(frozen=True)
class PullReview:
    """A review of a pull request (``GET /repos/{repo}/pulls/{n}/reviews``): who, what, at which commit."""

    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    commit_id: str


#: An artifact read whole is bounded: a review record of 20,000 runs is a few MiB.
ARTIFACT_LIMIT = 256 * 1024 * 1024


@dataclass(frozen=True)
class Deployment:
    """A deployment (``/repos/{repo}/deployments``): chariot-apply records each writer's run as one, with its
    state in the deployment's statuses."""

    id: int
    sha: str
    created_at: str
    payload: dict[str, Any]


class GitHubApi:
    def __init__(self, api_url: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport
        self._http = httpx.Client(base_url=api_url.rstrip("/"), transport=transport, timeout=30,
                                  headers={"Authorization": f"Bearer {token}",
                                           "Accept": "application/vnd.github+json",
                                           "X-GitHub-Api-Version": "2022-11-28",
                                           "User-Agent": "chariot-apply"})
        self._login: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the boundary

    def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """One request; every way it can fail becomes a ``GitHubError`` here."""
        try:
            response = self._http.request(method, url, json=body)
        except httpx.TimeoutException:
            raise GitHubError(f"GitHub did not answer {method} {url} in time") from None
        except httpx.HTTPError as exc:
            raise GitHubError(f"cannot reach GitHub ({self._http.base_url}): {exc}") from None
        if response.is_success or response.is_redirect:  # a download answers with where to fetch it
            return response
        try:
            answer = response.json()
            message = answer.get("message", response.text) if isinstance(answer, dict) else response.text
        except ValueError:
            message = response.text[:200]
        if response.status_code == 403:
            raise ReadOnlyToken(f"GitHub refused to write: {message}", 403)
        if response.status_code == 422:
            raise BodyTooLarge(f"GitHub refused the request: {message}", 422)
        raise GitHubError(f"GitHub answered {response.status_code} to {method} {url}: {message}",
                          response.status_code)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise GitHubError(f"GitHub answered {response.request.url} with something that is not JSON",
                              response.status_code) from None

    def _pages(self, url: str, most: int | None = None) -> list[Any]:
        """Every item of a listing, following ``Link: rel="next"`` pages (``most`` pages at the most)."""
        items: list[Any] = []
        next_url: str | None = url
        pages = 0
        while next_url and (most is None or pages < most):
            pages += 1
            response = self._call("GET", next_url)
            page = self._json(response)
            if not isinstance(page, list):
                raise GitHubError(f"GitHub answered {next_url} with {type(page).__name__}, not a list")
            items += page
            found = LINK_NEXT.search(response.headers.get("link", ""))
            next_url = found.group(1) if found else None
        return items

    # ------------------------------------------------------------------ who we are

    def login(self) -> str:
        """The login comments written with this token carry. A workflow's GITHUB_TOKEN may not ask
        (GitHub answers 403): then it is the Actions bot."""
        if self._login is None:
            try:
                data = self._json(self._call("GET", "/user"))
                self._login = str(data.get("login")) if isinstance(data, dict) and data.get("login") else ACTIONS_BOT
            except GitHubError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                self._login = ACTIONS_BOT
        return self._login

    # ------------------------------------------------------------------ comments

    def list_comments(self, pr: PullRequest) -> list[Comment]:
        return [_comment(c) for c in self._pages(f"/repos/{pr.repository}/issues/{pr.number}/comments?per_page=100")]

    def create_comment(self, pr: PullRequest, body: str) -> Comment:
        url = f"/repos/{pr.repository}/issues/{pr.number}/comments"
        return _comment(self._json(self._call("POST", url, {"body": body})))

    def update_comment(self, pr: PullRequest, comment_id: int, body: str) -> Comment:
        url = f"/repos/{pr.repository}/issues/comments/{comment_id}"
        return _comment(self._json(self._call("PATCH", url, {"body": body})))

    def delete_comment(self, pr: PullRequest, comment_id: int) -> None:
        self._call("DELETE", f"/repos/{pr.repository}/issues/comments/{comment_id}")

    # ------------------------------------------------------------------ pull requests and labels

    def pulls_for_commit(self, repository: str, sha: str) -> list[MergedPull]:
        pulls = []
        for data in self._pages(f"/repos/{repository}/commits/{sha}/pulls?per_page=100"):
            if isinstance(data, dict) and isinstance(data.get("number"), int):
                head, base = data.get("head"), data.get("base")
                head_sha = str(head.get("sha", "")) if isinstance(head, dict) else ""
                base_sha = str(base.get("sha", "")) if isinstance(base, dict) else ""
                pulls.append(MergedPull(data["number"], head_sha, data.get("merge_commit_sha"),
                                        bool(data.get("merged_at")), base_sha, label_names(data.get("labels"))))
        return pulls

    # ------------------------------------------------------------------ where a plan comment came from

    def workflow_run(self, repository: str, run_id: int) -> WorkflowRun:
        data = self._json(self._call("GET", f"/repos/{repository}/actions/runs/{run_id}"))
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            raise GitHubError(f"GitHub answered with a workflow run we cannot read (run {run_id})")
        repo = data.get("repository")
        return WorkflowRun(data["id"], str(repo.get("full_name", "")) if isinstance(repo, dict) else "",
                           str(data.get("head_sha", "")), str(data.get("path", "")), str(data.get("event", "")),
                           str(data.get("status") or ""))

    def pull_reviews(self, repository: str, number: int) -> list[PullReview]:
        """Every review of pull request ``number``, oldest first."""
        reviews = []
        for item in self._pages(f"/repos/{repository}/pulls/{number}/reviews?per_page=100", most=30):
            user = item.get("user") if isinstance(item, dict) else None
            if isinstance(user, dict) and isinstance(user.get("login"), str):
                reviews.append(PullReview(user["login"], str(item.get("state") or ""),
                                          str(item.get("commit_id") or "")))
        return reviews

    def permission(self, repository: str, login: str) -> str:
        """``login``'s permission on the repository: admin, write, read or none (maintain reads as write)."""
        data = self._json(self._call("GET", f"/repos/{repository}/collaborators/{quote(login, safe='')}/permission"))
        found = data.get("permission") if isinstance(data, dict) else None
        return str(found) if isinstance(found, str) else "none"

    def run_artifacts(self, repository: str, run_id: int, name: str) -> list[Artifact]:
        """Run ``run_id``'s artifacts called ``name`` (only that run can have uploaded them)."""
        data = self._json(self._call("GET", f"/repos/{repository}/actions/runs/{run_id}/artifacts"
                                            f"?name={quote(name, safe='')}&per_page=100"))
        found = data.get("artifacts") if isinstance(data, dict) else None
        if not isinstance(found, list):
            raise GitHubError(f"GitHub answered with artifacts we cannot read (run {run_id})")
        artifacts = []
        for item in found:
            if isinstance(item, dict) and isinstance(item.get("id"), int) and item.get("name") == name:
                made_in = item.get("workflow_run")
                run = made_in.get("id") if isinstance(made_in, dict) else None
                artifacts.append(Artifact(item["id"], name, run if isinstance(run, int) else None,
                                          bool(item.get("expired")), int(item.get("size_in_bytes") or 0)))
        return artifacts

    def download_artifact(self, repository: str, artifact_id: int) -> bytes:
        """The artifact's zip. GitHub answers with a redirect to signed storage, fetched without our token."""
        response = self._call("GET", f"/repos/{repository}/actions/artifacts/{artifact_id}/zip")
        location = response.headers.get("location") if response.is_redirect else None
        if location is None:
            return response.content
        try:
            with httpx.Client(transport=self._transport, timeout=120) as storage, \
                    storage.stream("GET", location) as blob:
                blob.raise_for_status()
                chunks, size = [], 0
                for chunk in blob.iter_bytes():
                    size += len(chunk)
                    if size > ARTIFACT_LIMIT:
                        raise GitHubError(f"artifact {artifact_id} is larger than {ARTIFACT_LIMIT} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise GitHubError(f"cannot download artifact {artifact_id}: {exc}") from None

    # ------------------------------------------------------------------ deployments: the writers' record

    def create_deployment(self, repository: str, sha: str, environment: str, task: str,
                          payload: dict[str, Any], description: str) -> Deployment:
        """A deployment of ``sha`` that merges nothing and waits for no commit status (``auto_merge`` and
        ``required_contexts`` off): only a record."""
        body = {"ref": sha, "environment": environment, "task": task, "payload": payload, "auto_merge": False,
                "required_contexts": [], "description": description[:140], "transient_environment": False}
        return _deployment(self._json(self._call("POST", f"/repos/{repository}/deployments", body)))

    def deployments(self, repository: str, environment: str, task: str, pages: int = 1) -> list[Deployment]:
        """The newest deployments of ``environment`` and ``task``, newest first (``pages`` of 100 at most)."""
        url = (f"/repos/{repository}/deployments?environment={quote(environment, safe='')}"
               f"&task={quote(task, safe='')}&per_page=100")
        found = []
        for data in self._pages(url, pages):
            if isinstance(data, dict) and isinstance(data.get("id"), int):
                found.append(_deployment(data))
        return sorted(found, key=lambda d: -d.id)

    def set_deployment_state(self, repository: str, deployment_id: int, state: str, description: str) -> None:
        self._call("POST", f"/repos/{repository}/deployments/{deployment_id}/statuses",
                   {"state": state, "description": description[:140]})

    def deployment_state(self, repository: str, deployment_id: int) -> str | None:
        """The latest state of a deployment (None: none set yet)."""
        data = self._json(self._call("GET", f"/repos/{repository}/deployments/{deployment_id}/statuses?per_page=1"))
        if isinstance(data, list) and data and isinstance(data[0], dict):
            return str(data[0].get("state") or "") or None
        return None

    def commits_between(self, repository: str, base: str, head: str) -> list[str] | None:
        """The commits reachable from ``head`` and not from ``base``, oldest first (``GET .../compare``); None
        where ``base`` is not an ancestor of ``head`` (a force push, an unknown commit)."""
        try:
            data = self._json(self._call("GET", f"/repos/{repository}/compare/{quote(base)}...{quote(head)}"
                                                "?per_page=250"))
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(data, dict) or data.get("status") not in ("ahead", "identical"):
            return None
        commits = data.get("commits")
        return [str(c["sha"]) for c in commits if isinstance(c, dict) and c.get("sha")] \
            if isinstance(commits, list) else None

    def file_sha(self, repository: str, path: str, ref: str) -> str | None:
        """The blob id of ``path`` at ``ref`` (``None``: no such file there)."""
        try:
            data = self._json(self._call("GET", f"/repos/{repository}/contents/{quote(path)}?ref={quote(ref)}"))
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return str(data["sha"]) if isinstance(data, dict) and data.get("sha") else None

    def add_labels(self, pr: PullRequest, labels: list[str]) -> None:
        self._call("POST", f"/repos/{pr.repository}/issues/{pr.number}/labels", {"labels": labels})

    def remove_label(self, pr: PullRequest, label: str) -> None:
        try:
            self._call("DELETE", f"/repos/{pr.repository}/issues/{pr.number}/labels/{quote(label, safe='')}")
        except GitHubError as exc:
            if exc.status != 404:  # not there: as good
                raise

    # ------------------------------------------------------------------ issues (the drift check)

    def open_issues(self, repository: str) -> list[Issue]:
        return [_issue(i) for i in self._pages(f"/repos/{repository}/issues?state=open&per_page=100")
                if isinstance(i, dict) and "pull_request" not in i]

    def create_issue(self, repository: str, title: str, body: str) -> Issue:
        return _issue(self._json(self._call("POST", f"/repos/{repository}/issues", {"title": title, "body": body})))

    def update_issue(self, repository: str, number: int, **fields: str) -> Issue:
        return _issue(self._json(self._call("PATCH", f"/repos/{repository}/issues/{number}", dict(fields))))

    def comment_issue(self, repository: str, number: int, body: str) -> None:
        self._call("POST", f"/repos/{repository}/issues/{number}/comments", {"body": body})


def _comment(data: Any) -> Comment:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise GitHubError("GitHub answered with a comment we cannot read (no numeric id)")
    user = data.get("user")
    return Comment(data["id"], data.get("body") or "", user.get("login") if isinstance(user, dict) else None)


def _deployment(data: Any) -> Deployment:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise GitHubError("GitHub answered with a deployment we cannot read (no numeric id)")
    payload = data.get("payload")
    return Deployment(data["id"], str(data.get("sha", "")), str(data.get("created_at", "")),
                      payload if isinstance(payload, dict) else {})


def _issue(data: Any) -> Issue:
    if not isinstance(data, dict) or not isinstance(data.get("number"), int):
        raise GitHubError("GitHub answered with an issue we cannot read (no number)")
    user = data.get("user")
    return Issue(data["number"], data.get("body") or "", user.get("login") if isinstance(user, dict) else None,
                 str(data.get("state", "open")))
