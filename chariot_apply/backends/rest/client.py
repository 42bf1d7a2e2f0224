"""Async client of the Chariot training service (``chariot.training_v2`` over our REST model).

One boundary: ``_send`` is the only place that touches httpx, and it turns every
httpx, HTTP-status and JSON failure into the ``errors`` tree. Tests and the
embedded emulator swap the *transport*, never the client.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
from pydantic import BaseModel

from chariot_apply import __version__
from chariot_apply.backends.rest import answers
from chariot_apply.backends.rest.auth import ClientCredentials, Credentials, NoCredentials, StaticToken
from chariot_apply.backends.rest.retry import RETRYABLE_STATUSES, RetryPolicy
from chariot_apply.backends.rest.settings import ChariotSettings
from chariot_apply.backends.rest.transport import AnswerTooSlow, transport_for
from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.backend import Backend, runs_by_id
from chariot_apply.chariot.errors import (
    BlueprintDoesNotExistError,
    CheckpointDoesNotExistError,
    InvalidArgumentError,
    NotFoundError,
    ProjectDoesNotExistError,
    RunDoesNotExistError,
)
from chariot_apply.chariot.models import (
    RELOAD_FIELDS,
    Blueprint,
    Checkpoint,
    Event,
    Metric,
    Model,
    Project,
    ReloadField,
    Resources,
    Run,
    RunSummary,
    SystemGpu,
)
from chariot_apply.chariot.semver import is_semver

M = TypeVar("M", bound=BaseModel)


class AsyncChariotClient:
    """Every operation of the SDK reference, async, with timeouts, bounded retries for reads, auth."""

    limitations: tuple[str, ...] = ()  # our REST model has a call for everything the tool does
    lists_models = True

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 30.0,
        verify: Any = True,
        cert: Any = None,
        max_connections: int = 64,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        if transport is None:
            transport = transport_for(self.base_url, max_connections=max_connections, verify=verify, cert=cert)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout_seconds),
            headers={"User-Agent": f"chariot-apply/{__version__}", "Accept": "application/json"},
        )
        self.credentials: Credentials = credentials or NoCredentials()
        #: Requests sent, retries included (benchmarks read it).
        self.requests_sent = 0
        self._urls: dict[str, httpx.URL] = {}
        self._dated: tuple[datetime, float] | None = None  # the last answer's Date, and when it came (monotonic)

    def server_now(self) -> datetime | None:
        if self._dated is None:
            return None
        date, at = self._dated
        return date + timedelta(seconds=time.monotonic() - at)

    def _remember_date(self, response: httpx.Response) -> None:
        text = response.headers.get("date")
        if not text:
            return
        try:
            date = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return  # not a date: the local clock is used
        self._dated = (date if date.tzinfo else date.replace(tzinfo=UTC), time.monotonic())

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path``, parsed once: httpx parses a relative one twice per request, and
        an apply sends hundreds to the same few paths. Paths with ids are not kept once the cache is full."""
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.base_url + path)
            if len(self._urls) < 256:
                self._urls[path] = url
        return url

    @classmethod
    def from_settings(cls, settings: ChariotSettings, *, transport: httpx.AsyncBaseTransport | None = None,
                      retry: RetryPolicy | None = None) -> AsyncChariotClient:
        cert = None
        if settings.client_cert is not None:
            cert = (str(settings.client_cert), str(settings.client_key)) if settings.client_key \
                else str(settings.client_cert)
        client = cls(settings.url, transport=transport, retry=retry,
                     timeout_seconds=settings.timeout_seconds,
                     verify=str(settings.ca_bundle) if settings.ca_bundle else True, cert=cert)
        if settings.token is not None:
            client.credentials = StaticToken(settings.token)
        elif settings.client_id is not None and settings.client_secret is not None:
            client.credentials = ClientCredentials(settings.client_id, settings.client_secret, client._login)
        return client

    def __repr__(self) -> str:
        return f"AsyncChariotClient({self.base_url!r}, credentials={self.credentials!r})"

    async def __aenter__(self) -> AsyncChariotClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ the boundary

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        safe: bool,
        not_found: type[NotFoundError] = NotFoundError,
        authenticate: bool = True,
    ) -> httpx.Response:
        """Send once, or several times when ``safe`` (no side effects); map every failure to our tree."""
        attempts = self.retry.attempts if safe else 1
        refreshed = False
        attempt = 0
        while True:
            token = await self.credentials.token() if authenticate else None
            headers = {rest.REQUEST_ID_HEADER: str(uuid.uuid4())}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                self.requests_sent += 1
                response = await self._http.request(method, self._url(path), params=cast(httpx.QueryParams, params),
                                                    json=json_body,
                                                    data=form, headers=headers)
            except httpx.InvalidURL as exc:  # nothing was sent: an argument no URL can carry
                raise InvalidArgumentError(f"cannot make a request URL: {str(exc)[:200]}") from None
            except httpx.HTTPError as exc:
                attempt += 1
                if safe and attempt < attempts and not isinstance(exc, AnswerTooSlow):  # as slow again: no
                    await asyncio.sleep(self.retry.delay(attempt - 1))
                    continue
                raise answers.transport_error(method, path, exc, safe=safe) from None
            # The body has been read: drop httpx's stream, which refers back to the response. That cycle kept each
            # answer (a page of runs: 700 KB) alive until a collection, and a plan runs without any.
            response.stream = httpx.ByteStream(b"")
            self._remember_date(response)
            if response.status_code == 401 and authenticate and not refreshed \
                    and await self.credentials.invalidate(token):
                refreshed = True
                continue
            if response.status_code in RETRYABLE_STATUSES and safe:
                attempt += 1
                if attempt < attempts:
                    await asyncio.sleep(self.retry.delay(attempt - 1))
                    continue
            if response.is_success:
                return response
            raise answers.api_error(response, not_found)

    async def _get(self, path: str, model: type[M], params: list[tuple[str, str]] | None = None,
                   not_found: type[NotFoundError] = NotFoundError) -> M:
        response = await self._send("GET", path, params=params, safe=True, not_found=not_found)
        return answers.parse(response, model)

    async def _login(self, client_id: str, client_secret: str) -> tuple[str, float]:
        form = {"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"}
        response = await self._send("POST", rest.LOGIN, form=form, safe=True, authenticate=False)
        token = answers.parse(response, rest.TokenResponse)
        return token.access_token, float(token.expires_in)

    # ------------------------------------------------------------------ projects and blueprints

    async def get_projects(self, name: str | None = None) -> list[Project]:
        query = rest.ProjectQuery(name=name)
        return (await self._get(rest.PROJECTS, rest.ProjectList, query.to_params())).projects

    async def find_projects(self, names: Sequence[str]) -> list[Project]:
        wanted = set(names)
        return [p for p in await self.get_projects() if p.name in wanted or p.id in wanted] if wanted else []

    async def get_models(self, *, project_ids: Sequence[str] | None = None, names: Sequence[str] | None = None,
                         versions: Sequence[str] | None = None) -> list[Model]:
        """Models by project, name and version (our model of the models service's listing)."""
        query = answers.query(rest.ModelQuery, {"project_ids": project_ids, "names": names, "versions": versions})
        if answers.query_matches_nothing(query):
            return []
        return (await self._get(rest.MODELS, rest.ModelList, query.to_params())).models

    async def get_available_system_gpus(self) -> list[SystemGpu]:
        """``chariot.system_resources.get_available_system_gpus``: the GPU types runs may ask for."""
        return (await self._get(rest.SYSTEM_GPUS, rest.SystemGpuList)).gpus

    async def get_project_id(self, name: str) -> str:
        """The id of the project called ``name`` (``chariot.projects.get_project_id``)."""
        if not name:
            raise InvalidArgumentError("project name must not be empty")
        projects = await self.get_projects(name)
        if not projects:
            raise ProjectDoesNotExistError(404, message=f"project {name!r} does not exist")
        return projects[0].id

    async def lookup_blueprint(self, name: str, version_ilike: str | None = None) -> Blueprint:
        """The most recent blueprint called ``name`` whose version matches the ILIKE pattern."""
        if not name:
            raise InvalidArgumentError("blueprint name must be provided")
        query = rest.BlueprintLookupQuery(name=name, version_ilike=version_ilike)
        try:
            return await self._get(rest.BLUEPRINT_LOOKUP, Blueprint, query.to_params(),
                                   not_found=BlueprintDoesNotExistError)
        except BlueprintDoesNotExistError as exc:
            exc.name, exc.version_ilike = name, version_ilike
            raise

    async def lookup_blueprint_id(self, name: str, version_ilike: str | None = None) -> str:
        return (await self.lookup_blueprint(name, version_ilike)).id

    async def get_blueprint(self, blueprint_id: str) -> Blueprint:
        return await self._get(rest.blueprint_path(blueprint_id), Blueprint,
                               not_found=BlueprintDoesNotExistError)

    async def get_blueprints(self, names: Sequence[str] | None = None, limit: int | None = None,
                             offset: int | None = None) -> list[Blueprint]:
        query = rest.BlueprintListQuery(names=list(names) if names else None, limit=limit, offset=offset)
        return (await self._get(rest.BLUEPRINTS, rest.BlueprintList, query.to_params())).blueprints

    # ------------------------------------------------------------------ runs

    async def validate_run_config(self, *, blueprint_id: str, config: dict[str, Any]) -> None:
        """Raises ``ValidationError`` listing every problem; side-effect free, so retried like a read."""
        body = answers.body(rest.ValidateConfigBody, blueprint_id=blueprint_id, config=config)
        await self._send("POST", rest.RUNS_VALIDATE, json_body=body.model_dump(mode="json"), safe=True,
                         not_found=BlueprintDoesNotExistError)

    async def create_run(self, *, name: str, version: str, resources: Resources, config: dict[str, Any],
                         task_type: str, blueprint_id: str, project_id: str, notes: str | None = None) -> str:
        """Create a run and return its id. Never retried: on ``WriteOutcomeUnknownError`` look it up."""
        body = answers.body(rest.CreateRunBody, name=name, version=version, resources=resources, config=config,
                                  task_type=task_type, blueprint_id=blueprint_id, project_id=project_id,
                                  notes=notes)
        try:
            response = await self._send("POST", rest.RUNS, json_body=body.model_dump(mode="json"), safe=False)
        except NotFoundError as exc:  # the run's blueprint or its project: the answer says which
            raise answers.missing(exc, {"project": ProjectDoesNotExistError}, BlueprintDoesNotExistError) from None
        return answers.created(response)

    async def get_runs(self, /, **filters: Any) -> list[Run]:
        """Runs matching the filters of ``chariot.training_v2.get_runs`` (default limit 10).

        An empty list filter (``ids=[]``) matches nothing: no request is sent, rather than one that a
        query string would turn into "no filter at all"."""
        query = answers.query(rest.RunQuery, filters)
        if answers.query_matches_nothing(query):
            return []
        return (await self._get(rest.RUNS, rest.RunList, query.to_params())).runs

    async def get_run_summaries(self, /, **filters: Any) -> list[RunSummary]:
        """``get_runs``, each run read as a ``RunSummary`` (identity, status, notes): the same request, a lighter
        answer to keep."""
        query = answers.query(rest.RunQuery, filters)
        if answers.query_matches_nothing(query):
            return []
        return (await self._get(rest.RUNS, rest.RunSummaryList, query.to_params())).runs

    def iter_runs(self, *, page_size: int = 500, **filters: Any) -> AsyncGenerator[Run, None]:
        """Every run matching ``filters`` (``backend.runs_by_id``)."""
        return runs_by_id(self.get_runs, page_size, filters)

    async def get_run(self, run_id: str, fields: Sequence[str] | None = None) -> Run:
        if fields is not None:
            bad = sorted(set(fields) - set(RELOAD_FIELDS))
            if bad:
                raise InvalidArgumentError(f"invalid fields {bad}; options are {list(RELOAD_FIELDS)}")
        query = rest.RunFieldsQuery(fields=[cast(ReloadField, f) for f in fields] if fields is not None else None)
        return await self._get(rest.run_path(run_id), Run, query.to_params(), not_found=RunDoesNotExistError)

    async def reload(self, run: Run, fields: Sequence[str] | None = None) -> Run:
        """``Run.reload``: a copy of ``run`` with ``fields`` (default: all) refreshed from the server."""
        if not run.id:
            raise InvalidArgumentError("the run has no id")
        fresh = await self.get_run(run.id, fields)
        if fields is None:
            return fresh
        return run.model_copy(update={f: getattr(fresh, f) for f in fields})

    async def stop_run(self, run_id: str, grace_period: timedelta | None = None) -> None:
        """Ask the run to stop; force-stopped after ``grace_period`` (at least 1 s, default 10 min)."""
        seconds = rest.DEFAULT_STOP_GRACE_SECONDS if grace_period is None else grace_period.total_seconds()
        if seconds < 1:
            raise InvalidArgumentError("grace_period must be at least 1 second")
        body = answers.body(rest.StopRunBody, grace_period_seconds=seconds)
        await self._send("POST", rest.run_path(run_id, "/stop"), json_body=body.model_dump(), safe=False,
                         not_found=RunDoesNotExistError)

    async def delete_run(self, run_id: str) -> None:
        await self._send("DELETE", rest.run_path(run_id), safe=False, not_found=RunDoesNotExistError)

    async def get_events(self, run_id: str, *, limit: int | None = None, offset: int | None = None,
                         sort: Sequence[str] | None = None) -> list[Event]:
        query = answers.query(rest.EventQuery, {"limit": limit, "offset": offset, "sort": sort})
        return (await self._get(rest.run_path(run_id, "/events"), rest.EventList, query.to_params(),
                                not_found=RunDoesNotExistError)).events

    async def get_metrics(self, run_id: str, *, global_steps: Sequence[int] | None = None,
                          tags: Sequence[str] | None = None, limit: int = rest.METRICS_DEFAULT_LIMIT,
                          created_before: datetime | None = None) -> list[Metric]:
        query = answers.query(rest.MetricQuery, {"global_steps": global_steps, "tags": tags, "limit": limit,
                                          "created_before": created_before})
        return (await self._get(rest.run_path(run_id, "/metrics"), rest.MetricList, query.to_params(),
                                not_found=RunDoesNotExistError)).metrics

    async def get_all_metrics(self, run_id: str) -> list[Metric]:
        """Every metric of the run (sort order unspecified, as in the SDK)."""
        return (await self._get(rest.run_path(run_id, "/metrics/all"), rest.MetricList,
                                not_found=RunDoesNotExistError)).metrics

    async def get_global_steps_with_checkpoints(self, run_id: str) -> list[int]:
        return (await self._get(rest.run_path(run_id, "/checkpoints/global-steps"), rest.GlobalSteps,
                                not_found=RunDoesNotExistError)).global_steps

    # ------------------------------------------------------------------ checkpoints

    async def get_checkpoints(self, /, **filters: Any) -> list[Checkpoint]:
        query = answers.query(rest.CheckpointQuery, filters)
        if answers.query_matches_nothing(query):
            return []
        return (await self._get(rest.CHECKPOINTS, rest.CheckpointList, query.to_params())).checkpoints

    async def delete_checkpoints(self, *, ids: Sequence[str] | None = None,
                                 run_ids: Sequence[str] | None = None) -> None:
        if not ids and not run_ids:
            raise InvalidArgumentError("either ids or run_ids must be given, so that not every checkpoint "
                                       "is deleted by accident")
        query = rest.CheckpointDeleteQuery(ids=list(ids) if ids else None,
                                           run_ids=list(run_ids) if run_ids else None)
        await self._send("DELETE", rest.CHECKPOINTS, params=query.to_params(), safe=False)

    async def download_checkpoint(self, checkpoint_id: str, file_dir: str | Path) -> list[Path]:
        """Write the checkpoint's artifacts into ``file_dir`` (which must exist); return their paths."""
        directory = Path(file_dir)
        if not directory.is_dir():
            raise InvalidArgumentError(f"file_dir {str(directory)!r} must be an existing directory")
        listing = await self._get(rest.checkpoint_path(checkpoint_id, "/files"), rest.CheckpointFiles,
                                  not_found=CheckpointDoesNotExistError)
        written: list[Path] = []
        for entry in listing.files:
            target = directory / Path(entry.name).name
            response = await self._send("GET", rest.checkpoint_path(checkpoint_id, f"/files/{target.name}"),
                                        safe=True, not_found=CheckpointDoesNotExistError)
            target.write_bytes(response.content)
            written.append(target)
        return written

    async def create_model_from_checkpoint(self, *, checkpoint_id: str, name: str, version: str, summary: str,
                                           project_id: str | None = None) -> str:
        if not is_semver(version):
            raise InvalidArgumentError(f"model version {version!r} is not SemVer (e.g. 1.2.3)")
        body = answers.body(rest.CreateModelBody, name=name, version=version, summary=summary, project_id=project_id)
        try:
            response = await self._send("POST", rest.checkpoint_path(checkpoint_id, "/models"),
                                        json_body=body.model_dump(mode="json"), safe=False)
        except NotFoundError as exc:  # the checkpoint, or the project the model was to go in
            raise answers.missing(exc, {"project": ProjectDoesNotExistError}, CheckpointDoesNotExistError) from None
        return answers.created(response)


def _is_a_backend(client: AsyncChariotClient) -> Backend:
    """mypy checks here that the client implements every operation of the ``Backend`` protocol."""
    return client
