"""A local stand-in for the parts of GitHub's REST API that chariot-apply uses: issue comments.

Pages with ``per_page``/``page`` and ``Link`` headers, answers 403 to read-only tokens (as a fork's
pull request gets) and 422 to bodies over 65,536 characters, as GitHub does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

LIMIT = 65_536


@dataclass
class FakeGitHub:
    readonly_tokens: set[str] = field(default_factory=set)
    limit: int = LIMIT
    comments: dict[int, dict] = field(default_factory=dict)
    threads: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    writes: list[tuple[str, int]] = field(default_factory=list)
    next_id: int = 1000

    def add(self, repo: str, number: int, body: str, user: str = "someone") -> int:
        self.next_id += 1
        self.comments[self.next_id] = {"id": self.next_id, "body": body, "user": {"login": user}}
        self.threads.setdefault((repo, number), []).append(self.next_id)
        return self.next_id

    def thread(self, repo: str, number: int) -> list[dict]:
        return [self.comments[i] for i in self.threads.get((repo, number), [])]

    def app(self) -> FastAPI:
        app = FastAPI()

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

        @app.get("/repos/{owner}/{repo}/issues/{number}/comments")
        async def list_comments(owner: str, repo: str, number: int, request: Request, per_page: int = 30,
                                page: int = 1) -> JSONResponse:
            everything = self.thread(f"{owner}/{repo}", number)
            chunk = everything[(page - 1) * per_page: page * per_page]
            headers = {}
            if page * per_page < len(everything):
                url = str(request.url.include_query_params(page=page + 1, per_page=per_page))
                headers["Link"] = f'<{url}>; rel="next"'
            return JSONResponse(chunk, headers=headers)

        @app.post("/repos/{owner}/{repo}/issues/{number}/comments")
        async def create(owner: str, repo: str, number: int, request: Request) -> JSONResponse:
            body = (await request.json())["body"]
            refused = refuse(request, body)
            if refused:
                return refused
            comment_id = self.add(f"{owner}/{repo}", number, body, "github-actions[bot]")
            self.writes.append(("create", comment_id))
            return JSONResponse(self.comments[comment_id], status_code=201)

        @app.patch("/repos/{owner}/{repo}/issues/comments/{comment_id}")
        async def update(owner: str, repo: str, comment_id: int, request: Request) -> JSONResponse:
            body = (await request.json())["body"]
            refused = refuse(request, body)
            if refused:
                return refused
            self.comments[comment_id]["body"] = body
            self.writes.append(("update", comment_id))
            return JSONResponse(self.comments[comment_id])

        return app
