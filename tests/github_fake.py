"""A local stand-in for the parts of GitHub's REST API that chariot-apply uses: comments, pull requests of a
commit, labels, issues and who a token is.

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
