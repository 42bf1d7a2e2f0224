"""A local stand-in for the parts of GitHub's REST API that chariot-apply uses: comments, pull requests of a
commit, labels, issues and who a token is, workflow runs and their artifacts, reviews and collaborators'
permissions.

Pages with ``per_page``/``page`` and ``Link`` headers, answers 403 to read-only tokens (as a fork's pull
request gets) and 422 to bodies over 65,536 characters, as GitHub does. ``GET /user`` answers 403 to a
workflow's token (``ghs_...``), as GitHub does: that token writes as ``github-actions[bot]``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

LIMIT = 65_536
BOT = "github-actions[bot]"
BASE_SHA = "ba5e" * 10  # the default branch's commit every pull request here was opened against
SAME_BLOB = "blob-of-the-workflow"  # a workflow file no pull request changed


@dataclass
class FakeGitHub:
    readonly_tokens: set[str] = field(default_factory=set)
    users: dict[str, str] = field(default_factory=dict)  # token -> login, for tokens that are not a workflow's
    limit: int = LIMIT
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    threads: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    writes: list[tuple[str, int]] = field(default_factory=list)
    pulls: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (repo, sha) -> pulls
    labels: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # workflow runs, by id
    files: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (repo, path, ref) -> blob id
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)  # by id, each with its "statuses"
    history: dict[str, list[str]] = field(default_factory=dict)  # repo -> the default branch's commits, oldest first
    artifacts: dict[int, dict[str, Any]] = field(default_factory=dict)  # by id: name, run, zip (bytes)
    reviews: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)  # (repo, pull) -> reviews
    permissions: dict[str, str] = field(default_factory=dict)  # login -> admin | write | triage | read | none
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_run(self, repo: str, head_sha: str, path: str, event: str) -> int:
        """A workflow run, as GitHub keeps it (``GET /repos/{repo}/actions/runs/{id}``); its id."""
        with self.lock:
            run_id = 9_000_000 + len(self.runs)
            self.runs[run_id] = {"id": run_id, "head_sha": head_sha, "path": path, "event": event,
                                 "repository": {"full_name": repo}, "status": "in_progress"}
        return run_id

    def finish_run(self, run_id: int, conclusion: str = "success") -> None:
        """The run ended (GitHub: ``status: completed``), or was cancelled before or while it ran."""
        if run_id in self.runs:
            self.runs[run_id] |= {"status": "completed", "conclusion": conclusion}

    def upload_artifact(self, run_id: int, name: str, files: dict[str, bytes]) -> int:
        """What ``actions/upload-artifact`` does in run ``run_id``: a zip of ``files``, under ``name`` (a name is
        unique in a run: uploading it again replaces it, as ``overwrite: true`` does)."""
        import io
        import zipfile

        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            for path, content in files.items():
                archive.writestr(path, content)
        with self.lock:
            for old in [i for i, a in self.artifacts.items() if a["run"] == run_id and a["name"] == name]:
                del self.artifacts[old]
            artifact_id = 5_000_000 + len(self.artifacts) + sum(1 for _ in self.runs)
            while artifact_id in self.artifacts:
                artifact_id += 1
            self.artifacts[artifact_id] = {"id": artifact_id, "name": name, "run": run_id, "zip": data.getvalue()}
        return artifact_id

    def review(self, repo: str, number: int, user: str, state: str, commit_id: str) -> None:
        """A review of pull request ``number`` (``APPROVED``, ``CHANGES_REQUESTED``, ``COMMENTED``) at a commit."""
        reviews = self.reviews.setdefault((repo, number), [])
        reviews.append({"id": 8_000_000 + len(reviews), "user": {"login": user}, "state": state,
                        "commit_id": commit_id, "submitted_at": "2026-11-28T00:00:00Z"})

    def add(self, repo: str, number: int, body: str, user: str = "someone") -> int:
        self.next_id += 1
        self.comments[self.next_id] = {"id": self.next_id, "body": body, "user": {"login": user}}
        self.threads.setdefault((repo, number), []).append(self.next_id)
        return self.next_id

    def thread(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [self.comments[i] for i in self.threads.get((repo, number), []) if i in self.comments]

    def merge(self, repo: str, number: int, head_sha: str, merge_sha: str) -> None:
        """Pull request ``number`` (head ``head_sha``) merged as ``merge_sha``: the default branch's next commit."""
        commits = self.history.setdefault(repo, [])
        if merge_sha not in commits:
            commits.append(merge_sha)
        self.pulls.setdefault((repo, merge_sha), []).append(
            {"number": number, "head": {"sha": head_sha}, "base": {"sha": BASE_SHA}, "merge_commit_sha": merge_sha,
             "merged_at": "2026-11-28T00:00:00Z", "state": "closed"})

    def open_issues(self) -> list[dict[str, Any]]:
        return [i for i in self.issues.values() if i["state"] == "open"]

    def _user(self, request: Request) -> str | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return self.users.get(token)

    def app(self) -> FastAPI:
        app = FastAPI()

        def login(request: Request) -> str:
            return self._user(request) or BOT

        def refuse(request: Request, body: str) -> JSONResponse | None:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token in self.readonly_tokens:
                return JSONResponse({"message": "Resource not accessible by integration"}, status_code=403)
            if len(body) > self.limit:
                return JSONResponse({"message": "Validation Failed",
                                     "errors": [{"field": "body", "code": "custom",
                                                 "message": "body is too long (maximum is 65536 characters)"}]},
                                    status_code=422)
            return None

        def paged(request: Request, everything: list[Any], per_page: int, page: int) -> JSONResponse:
            chunk = everything[(page - 1) * per_page: page * per_page]
            headers = {}
            if page * per_page < len(everything):
                url = str(request.url.include_query_params(page=page + 1, per_page=per_page))
                headers["Link"] = f'<{url}>; rel="next"'
            return JSONResponse(chunk, headers=headers)

        @app.get("/user")
        async def user(request: Request) -> JSONResponse:
            name = self._user(request)
            if name is None:
                return JSONResponse({"message": "Resource not accessible by integration"}, status_code=403)
            return JSONResponse({"login": name})

        @app.get("/repos/{owner}/{repo}/issues/{number}/comments")
        async def list_comments(owner: str, repo: str, number: int, request: Request, per_page: int = 30,
                                page: int = 1) -> JSONResponse:
            return paged(request, self.thread(f"{owner}/{repo}", number), per_page, page)

        @app.post("/repos/{owner}/{repo}/issues/{number}/comments")
        async def create(owner: str, repo: str, number: int, request: Request) -> JSONResponse:
            body = (await request.json())["body"]
            refused = refuse(request, body)
            if refused:
                return refused
            comment_id = self.add(f"{owner}/{repo}", number, body, login(request))
            self.writes.append(("create", comment_id))
            return JSONResponse(self.comments[comment_id], status_code=201)

        @app.patch("/repos/{owner}/{repo}/issues/comments/{comment_id}")
        async def update(owner: str, repo: str, comment_id: int, request: Request) -> JSONResponse:
            body = (await request.json())["body"]
            refused = refuse(request, body)
            if refused:
                return refused
            if self.comments[comment_id]["user"]["login"] != login(request):
                return JSONResponse({"message": "Must have admin rights to Repository."}, status_code=403)
            self.comments[comment_id]["body"] = body
            self.writes.append(("update", comment_id))
            return JSONResponse(self.comments[comment_id])

        @app.delete("/repos/{owner}/{repo}/issues/comments/{comment_id}")
        async def delete(owner: str, repo: str, comment_id: int) -> Response:
            self.comments.pop(comment_id, None)
            self.writes.append(("delete", comment_id))
            return Response(status_code=204)

        @app.get("/repos/{owner}/{repo}/commits/{sha}/pulls")
        async def pulls(owner: str, repo: str, sha: str, request: Request, per_page: int = 30,
                        page: int = 1) -> JSONResponse:
            return paged(request, self.pulls.get((f"{owner}/{repo}", sha), []), per_page, page)

        @app.get("/repos/{owner}/{repo}/actions/runs/{run_id}")
        async def workflow_run(owner: str, repo: str, run_id: int) -> JSONResponse:
            if run_id not in self.runs:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            return JSONResponse(self.runs[run_id])

        @app.get("/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts")
        async def run_artifacts(owner: str, repo: str, run_id: int, request: Request,
                                name: str | None = None) -> JSONResponse:
            found = [{"id": a["id"], "name": a["name"], "size_in_bytes": len(a["zip"]), "expired": False,
                      "archive_download_url": f"{request.base_url}repos/{owner}/{repo}/actions/artifacts/{a['id']}/zip",
                      "workflow_run": {"id": run_id, "head_sha": self.runs.get(run_id, {}).get("head_sha")}}
                     for a in self.artifacts.values() if a["run"] == run_id and (name is None or a["name"] == name)]
            return JSONResponse({"total_count": len(found), "artifacts": found})

        @app.get("/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/zip")
        async def download_artifact(owner: str, repo: str, artifact_id: int, request: Request) -> Response:
            if artifact_id not in self.artifacts:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            return Response(status_code=302, headers={"Location": f"{request.base_url}_blobs/{artifact_id}?sig=x"})

        @app.get("/_blobs/{artifact_id}")
        async def blob(artifact_id: int, sig: str = "") -> Response:
            """The storage the download redirects to: signed by its URL, it needs (and wants) no token."""
            if not sig or artifact_id not in self.artifacts:
                return Response(status_code=403)
            return Response(self.artifacts[artifact_id]["zip"], media_type="application/zip")

        @app.get("/repos/{owner}/{repo}/pulls/{number}/reviews")
        async def list_reviews(owner: str, repo: str, number: int, request: Request, per_page: int = 30,
                               page: int = 1) -> JSONResponse:
            return paged(request, self.reviews.get((f"{owner}/{repo}", number), []), per_page, page)

        @app.get("/repos/{owner}/{repo}/collaborators/{username}/permission")
        async def permission(owner: str, repo: str, username: str) -> JSONResponse:
            level = self.permissions.get(username, "none")
            return JSONResponse({"permission": {"maintain": "write", "triage": "read"}.get(level, level),
                                 "role_name": level, "user": {"login": username}})

        @app.get("/repos/{owner}/{repo}/contents/{path:path}")
        async def contents(owner: str, repo: str, path: str, ref: str) -> JSONResponse:
            return JSONResponse({"path": path, "sha": self.files.get((f"{owner}/{repo}", path, ref), SAME_BLOB)})

        @app.post("/repos/{owner}/{repo}/deployments")
        async def create_deployment(owner: str, repo: str, request: Request) -> JSONResponse:
            data = await request.json()
            with self.lock:
                deployment_id = 7_000_000 + len(self.deployments)
                self.deployments[deployment_id] = {
                    "id": deployment_id, "sha": data["ref"], "ref": data["ref"], "task": data.get("task", "deploy"),
                    "environment": data.get("environment", "production"), "payload": data.get("payload", {}),
                    "created_at": datetime.now(UTC).isoformat(), "statuses": [], "repo": f"{owner}/{repo}"}
            return JSONResponse({k: v for k, v in self.deployments[deployment_id].items() if k != "statuses"},
                                status_code=201)

        @app.get("/repos/{owner}/{repo}/deployments")
        async def list_deployments(owner: str, repo: str, request: Request, environment: str | None = None,
                                   task: str | None = None, per_page: int = 30, page: int = 1) -> JSONResponse:
            found = [{k: v for k, v in d.items() if k != "statuses"} for d in sorted(
                self.deployments.values(), key=lambda d: -d["id"]) if d["repo"] == f"{owner}/{repo}"
                and (environment is None or d["environment"] == environment) and (task is None or d["task"] == task)]
            return paged(request, found, per_page, page)

        @app.post("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
        async def add_status(owner: str, repo: str, deployment_id: int, request: Request) -> JSONResponse:
            data = await request.json()
            with self.lock:
                self.deployments[deployment_id]["statuses"].insert(0, {"state": data["state"],
                                                                       "description": data.get("description", "")})
            return JSONResponse(self.deployments[deployment_id]["statuses"][0], status_code=201)

        @app.get("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
        async def statuses(owner: str, repo: str, deployment_id: int, request: Request, per_page: int = 30,
                           page: int = 1) -> JSONResponse:
            return paged(request, self.deployments[deployment_id]["statuses"], per_page, page)

        @app.get("/repos/{owner}/{repo}/compare/{basehead}")
        async def compare(owner: str, repo: str, basehead: str) -> JSONResponse:
            base, _, head = basehead.partition("...")
            commits = self.history.get(f"{owner}/{repo}", [])
            if base not in commits or head not in commits:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            start, end = commits.index(base), commits.index(head)
            status = "identical" if start == end else "ahead" if start < end else "behind"
            return JSONResponse({"status": status, "commits": [{"sha": sha} for sha in commits[start + 1:end + 1]]})

        @app.post("/repos/{owner}/{repo}/issues/{number}/labels")
        async def add_labels(owner: str, repo: str, number: int, request: Request) -> JSONResponse:
            labels = self.labels.setdefault((f"{owner}/{repo}", number), set())
            labels |= set((await request.json())["labels"])
            return JSONResponse([{"name": n} for n in sorted(labels)])

        @app.delete("/repos/{owner}/{repo}/issues/{number}/labels/{name}")
        async def remove_label(owner: str, repo: str, number: int, name: str) -> Response:
            labels = self.labels.get((f"{owner}/{repo}", number), set())
            if name not in labels:
                return JSONResponse({"message": "Label does not exist"}, status_code=404)
            labels.discard(name)
            return JSONResponse([{"name": n} for n in sorted(labels)])

        @app.get("/repos/{owner}/{repo}/issues")
        async def list_issues(owner: str, repo: str, request: Request, state: str = "open", per_page: int = 30,
                              page: int = 1) -> JSONResponse:
            return paged(request, [i for i in self.issues.values() if state == "all" or i["state"] == state],
                         per_page, page)

        @app.post("/repos/{owner}/{repo}/issues")
        async def create_issue(owner: str, repo: str, request: Request) -> JSONResponse:
            data = await request.json()
            self.next_id += 1
            number = len(self.issues) + 1
            self.issues[number] = {"number": number, "title": data["title"], "body": data.get("body", ""),
                                   "state": "open", "user": {"login": login(request)}}
            return JSONResponse(self.issues[number], status_code=201)

        @app.patch("/repos/{owner}/{repo}/issues/{number}")
        async def update_issue(owner: str, repo: str, number: int, request: Request) -> JSONResponse:
            self.issues[number] |= await request.json()
            return JSONResponse(self.issues[number])

        return app
