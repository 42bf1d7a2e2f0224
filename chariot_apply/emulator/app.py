"""The emulator's HTTP face: our REST model (``chariot.rest``) served by Starlette over ``EmulatorStore``.

Plain Starlette rather than FastAPI: the routes parse their own queries and bodies through ``chariot.rest`` (the
same models the client sends), so FastAPI added only its import, a large share of every embedded run's start-up
(``tests/test_imports.py`` pins that the embedded emulator never loads it).
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import format_datetime
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.models import Blueprint
from chariot_apply.diagnostics.errors import plain_message
from chariot_apply.emulator.clock import Clock
from chariot_apply.emulator.faults import FaultInjector, Faults
from chariot_apply.emulator.store import DEFAULT_USER_ID, EmulatorError, EmulatorStore

Q = TypeVar("Q", bound=BaseModel)
Handler = Callable[..., Awaitable[Response]]


@dataclass
class AuthConfig:
    """Credentials the emulator accepts. With none configured it serves everyone as one user."""

    tokens: set[str] = field(default_factory=set)
    clients: dict[str, str] = field(default_factory=dict)
    token_ttl_seconds: int = 3600
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (user id, expiry)

    @property
    def enabled(self) -> bool:
        return bool(self.tokens or self.clients)


def _user_for(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"chariot-apply-emulator-user:{name}"))


def create_app(store: EmulatorStore, *, auth: AuthConfig | None = None, faults: Faults | None = None) -> Starlette:
    auth = auth or AuthConfig()
    faults = faults or Faults()
    routes: list[Route] = []

    def route(method: str, path: str, *, public: bool = False) -> Callable[[Handler], Handler]:
        """Register ``handler(request, **path_params)``; unless ``public``, the caller is authenticated first and
        known as ``request.state.user_id``."""
        def register(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                if not public:
                    request.state.user_id = authenticate(request)
                return await handler(request, **request.path_params)

            routes.append(Route(path, endpoint, methods=[method]))
            return handler

        return register

    async def _emulator_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EmulatorError)
        body = rest.ErrorBody(error=exc.message, errors=exc.errors)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=exc.status)

    async def _busy(request: Request, exc: Exception) -> Response:
        """Another process held the database past the busy timeout: a 503 to retry (a read is retried by the
        client; a create is looked up first), never a 500 that reads as a bug."""
        assert isinstance(exc, sqlite3.OperationalError)
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise exc
        body = rest.ErrorBody(error="the emulator's database is busy with another process's write; retry")
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503, headers={"Retry-After": "1"})

    async def _route_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        # The gateway answers unknown routes in plain text, not JSON.
        if exc.status_code == 404:
            return PlainTextResponse("404 page not found", status_code=404)
        return PlainTextResponse(f"{exc.status_code} {exc.detail}".lower(), status_code=exc.status_code)

    def authenticate(request: Request) -> str:
        if not auth.enabled:
            return DEFAULT_USER_ID
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token:
            if token in auth.tokens:
                return _user_for(f"token:{token}")
            issued = auth.issued.get(token)
            if issued and issued[1] > store.clock.now().timestamp():
                return issued[0]
        raise EmulatorError(401, "invalid bearer token")

    @route("POST", rest.LOGIN, public=True)
    async def login(request: Request) -> Response:
        try:
            text = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise EmulatorError(400, "the login form is not UTF-8") from None
        form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if form.get("grant_type") != "client_credentials":
            raise EmulatorError(400, "grant_type must be client_credentials")
        expected = auth.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret):
            raise EmulatorError(401, "invalid client credentials")
        token = secrets.token_urlsafe(24)
        auth.issued[token] = (_user_for(f"client:{client_id}"), store.clock.now().timestamp() + auth.token_ttl_seconds)
        return _reply(rest.TokenResponse, access_token=token, expires_in=auth.token_ttl_seconds)

    @route("GET", rest.PROJECTS)
    async def projects(request: Request) -> Response:
        query = _query(request, rest.ProjectQuery)
        return _reply(rest.ProjectList, projects=store.projects(query.name))

    @route("GET", rest.MODELS)
    async def models(request: Request) -> Response:
        return _reply(rest.ModelList, models=store.models(_query(request, rest.ModelQuery)))

    @route("GET", rest.SYSTEM_GPUS)
    async def system_gpus(request: Request) -> Response:
        return _reply(rest.SystemGpuList, gpus=store.gpus())

    @route("GET", rest.BLUEPRINT_LOOKUP)
    async def lookup_blueprint(request: Request) -> Response:
        query = _query(request, rest.BlueprintLookupQuery)
        return _reply(Blueprint, **store.lookup_blueprint(query.name, query.version_ilike))

    @route("GET", rest.BLUEPRINTS)
    async def list_blueprints(request: Request) -> Response:
        return _reply(rest.BlueprintList, blueprints=store.list_blueprints(_query(request, rest.BlueprintListQuery)))

    @route("GET", rest.blueprint_path("{blueprint_id}"))
    async def get_blueprint(request: Request, blueprint_id: str) -> Response:
        return _reply(Blueprint, **store.get_blueprint(blueprint_id))

    @route("POST", rest.RUNS_VALIDATE)
    async def validate(request: Request) -> Response:
        body = await _body(request, rest.ValidateConfigBody)
        errors = store.validate(body.blueprint_id, body.config)
        if errors:
            raise EmulatorError(422, "invalid run config", errors)
        return _reply(rest.Valid, valid=True)

    @route("POST", rest.RUNS)
    async def create_run(request: Request) -> Response:
        body = await _body(request, rest.CreateRunBody)
        return _reply(rest.Created, status_code=201, id=store.create_run(body, request.state.user_id))

    @route("GET", rest.RUNS)
    async def list_runs(request: Request) -> Response:
        return _json('{"runs":' + store.list_runs_json(_query(request, rest.RunQuery)) + "}")

    @route("GET", rest.run_path("{run_id}"))
    async def get_run(request: Request, run_id: str) -> Response:
        return _json(store.get_run_json(run_id, _query(request, rest.RunFieldsQuery).fields))

    @route("POST", rest.run_path("{run_id}", "/stop"))
    async def stop_run(request: Request, run_id: str) -> Response:
        body = await _body(request, rest.StopRunBody, allow_empty=True)
        store.stop_run(run_id, body.grace_period_seconds)
        return Response(status_code=202)

    @route("DELETE", rest.run_path("{run_id}"))
    async def delete_run(request: Request, run_id: str) -> Response:
        store.delete_run(run_id)
        return Response(status_code=204)

    @route("GET", rest.run_path("{run_id}", "/events"))
    async def events(request: Request, run_id: str) -> Response:
        return _reply(rest.EventList, events=store.events(run_id, _query(request, rest.EventQuery)))

    @route("GET", rest.run_path("{run_id}", "/metrics"))
    async def metrics(request: Request, run_id: str) -> Response:
        return _reply(rest.MetricList, metrics=store.metrics(run_id, _query(request, rest.MetricQuery)))

    @route("GET", rest.run_path("{run_id}", "/metrics/all"))
    async def all_metrics(request: Request, run_id: str) -> Response:
        return _reply(rest.MetricList, metrics=store.metrics(run_id, None))

    @route("GET", rest.run_path("{run_id}", "/checkpoints/global-steps"))
    async def global_steps(request: Request, run_id: str) -> Response:
        return _reply(rest.GlobalSteps, global_steps=store.global_steps(run_id))

    @route("GET", rest.CHECKPOINTS)
    async def checkpoints(request: Request) -> Response:
        return _reply(rest.CheckpointList, checkpoints=store.checkpoints(_query(request, rest.CheckpointQuery)))

    @route("DELETE", rest.CHECKPOINTS)
    async def delete_checkpoints(request: Request) -> Response:
        store.delete_checkpoints(_query(request, rest.CheckpointDeleteQuery))
        return Response(status_code=204)

    @route("GET", rest.checkpoint_path("{checkpoint_id}", "/files"))
    async def checkpoint_files(request: Request, checkpoint_id: str) -> Response:
        files = store.checkpoint_files(checkpoint_id)
        return _reply(rest.CheckpointFiles, files=[{"name": n, "size": len(b)} for n, b in files.items()])

    @route("GET", rest.checkpoint_path("{checkpoint_id}", "/files/{name}"))
    async def checkpoint_file(request: Request, checkpoint_id: str, name: str) -> Response:
        files = store.checkpoint_files(checkpoint_id)
        if name not in files:
            raise EmulatorError(404, f"checkpoint {checkpoint_id} has no file {name!r}")
        return Response(files[name], media_type="application/octet-stream")

    @route("POST", rest.checkpoint_path("{checkpoint_id}", "/models"))
    async def create_model(request: Request, checkpoint_id: str) -> Response:
        body = await _body(request, rest.CreateModelBody)
        return _reply(rest.Created, status_code=201, id=store.create_model(checkpoint_id, body))

    app = Starlette(routes=routes, exception_handlers={EmulatorError: _emulator_error,
                                                       sqlite3.OperationalError: _busy,
                                                       StarletteHTTPException: _route_error},
                    middleware=[Middleware(RequestId), Middleware(ServerDate, clock=store.clock),
                                Middleware(FaultInjector, faults=faults)])
    app.state.store, app.state.auth, app.state.faults = store, auth, faults
    return app


class RequestId:
    """Echo the caller's ``X-Request-ID`` (or make one) on every answer. Plain ASGI: cheap."""

    header = rest.REQUEST_ID_HEADER.lower().encode()

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next((v for k, v in scope["headers"] if k == self.header), None) or str(uuid.uuid4()).encode()

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (self.header, request_id)]}
            await send(message)

        await self.app(scope, receive, send_with_id)


class ServerDate:
    """The ``Date`` of every answer, from the emulator's own clock (a manual clock in tests): what the client takes
    as the server's time, to measure a run's age and stall against (``spec.limits``). Plain ASGI."""

    def __init__(self, app: Any, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                date = format_datetime(self.clock.now().astimezone(UTC), usegmt=True).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", date)]}
            await send(message)

        await self.app(scope, receive, send_with_date)


def _json(text: str) -> Response:
    """JSON the store has already written (runs: SQLite composes them, in the shape of ``rest.Run``, which
    ``tests/test_emulator_answers.py`` holds them to)."""
    return Response(text, media_type="application/json")


def _reply(model: type[BaseModel], status_code: int = 200, **fields: Any) -> Response:
    """An answer as the REST model says it is: validated by the reply model the client parses, and written by it
    (what the model does not know is not sent)."""
    return Response(model.model_validate(fields).model_dump_json(), status_code=status_code,
                    media_type="application/json")


def _describe(exc: PydanticValidationError, prefix: str) -> list[rest.ErrorDetail]:
    details = []
    for error in exc.errors():
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        details.append(rest.ErrorDetail(path=path, message=plain_message(error)))
    return details


def _query(request: Request, model: type[Q]) -> Q:
    try:
        return cast(Q, model.from_params(list(request.query_params.multi_items())))  # type: ignore[attr-defined]
    except PydanticValidationError as exc:
        details = _describe(exc, "")
        raise EmulatorError(400, "invalid query: " + "; ".join(f"{d.path.lstrip('.')}: {d.message}"
                                                                 for d in details)) from None


async def _body(request: Request, model: type[Q], allow_empty: bool = False) -> Q:
    raw = await request.body()
    try:
        if allow_empty and not raw.strip():
            return model()
        return model.model_validate_json(raw)
    except PydanticValidationError as exc:
        raise EmulatorError(422, "invalid request body", _describe(exc, "$")) from None
