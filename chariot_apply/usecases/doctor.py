"""``chariot-apply doctor``: first contact with a Chariot, read-only. Each operation the tool relies on is tried
once, the way the planner sends it, and each failure says what was asked, what came back and what to do: what a
team runs on day one, and pastes into a bug report. Nothing is created, stopped or deleted."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from chariot_apply.chariot.backend import Backend
from chariot_apply.chariot.errors import (
    ApiException,
    ChariotError,
    NotFoundError,
    TransportError,
    ValidationError,
)
from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.models import ACTIVE_STATUSES
from chariot_apply.diagnostics import hints
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.reports.diagnosis import Check, Report
from chariot_apply.workspace.project import Workspace

_API_MODULE = Path(__file__).resolve().parent.parent / "chariot" / "rest_api.py"
DOCTOR_NAME, DOCTOR_VERSION = "chariot-apply-doctor", "0"  # an address no one uses: no run is expected there
SDK_NAMES = "documented SDK names the backend calls"


#: check name -> (HTTP method, the constant of chariot/rest_api.py naming its path, the SDK call)
ROUTES: dict[str, tuple[str, str, str]] = {
    "server answers and credentials are accepted": ("GET", "PROJECTS", "chariot.projects.get_project_id"),
    "project exists": ("GET", "PROJECTS", "chariot.projects.get_project_id"),
    "blueprint look-up": ("GET", "BLUEPRINT_LOOKUP", "chariot.training_v2.blueprint.lookup_blueprint_id"),
    "config validation (a known-bad config)": ("POST", "RUNS_VALIDATE",
                                               "chariot.training_v2.run.validate_run_config"),
    "run look-up by name and version": ("GET", "RUNS", "chariot.training_v2.run.get_runs"),
    "active runs of the project": ("GET", "RUNS", "chariot.training_v2.run.get_runs"),
    "events of a run": ("GET", "run_path", "chariot.training_v2.run.Run.get_events"),
    "metrics of a run": ("GET", "run_path", "chariot.training_v2.run.Run.get_metrics"),
    "checkpoints of a run": ("GET", "CHECKPOINTS", "chariot.training_v2.checkpoint.get_checkpoints"),
    "GPU types": ("GET", "SYSTEM_GPUS", "chariot.system_resources.get_available_system_gpus"),
}


def api_line(constant: str) -> int | None:
    """Where ``chariot/rest_api.py`` defines ``constant``: the line to correct if a real server differs."""
    try:
        text = _API_MODULE.read_text("utf-8")
    except OSError:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"(def )?{re.escape(constant)}\b", line):
            return number
    return None


async def diagnose(workspace: Workspace, project: str, blueprint: tuple[str, str | None] | None, *,
                   manifests_broken: UserError | None = None) -> Report:
    """Every check, in order; a check whose premise failed (no server, no project) is skipped, not failed again.
    ``manifests_broken``: why the manifests could not be read (a failed check of its own: never "all passed")."""
    backend = workspace.connection.backend
    report = Report(workspace.connection.server_name, backend)
    if manifests_broken is not None:
        report.checks.append(Check("manifests", "failed", f"{manifests_broken.message} [{manifests_broken.code}]",
                                   hint=f"{hints.VALIDATE.cited()} shows each problem at its line"))
    if backend == "sdk":
        report.checks.append(_documented_names())
    async with workspace.client() as client:
        state: dict[str, Any] = {}

        async def reach() -> str:
            state["projects"] = await client.find_projects([project])
            return "the server answered an authenticated request"

        async def project_id() -> str:
            found = state["projects"]  # the first check's answer: this one only reads it
            if not found:
                raise _Unmet(f"no project {project!r}", "check `project` in chariot-apply.yaml, or --project")
            state["project_id"] = found[0].id
            return f"{project} = {found[0].id}"

        async def lookup() -> str:
            if blueprint is None:
                raise _Skip("no manifest names a blueprint")
            state["blueprint_id"] = await client.lookup_blueprint_id(*blueprint)
            return f"{blueprint[0]} {blueprint[1] or '(latest)'} = {state['blueprint_id']}"

        async def validation() -> str:
            if "blueprint_id" not in state:
                raise _Skip("no blueprint was looked up")
            try:
                await client.validate_run_config(blueprint_id=state["blueprint_id"],
                                                 config={"chariot_apply_doctor": ["not", "a", "real", "config"]})
            except ValidationError as exc:
                return f"refused as expected, {len(exc.errors)} problem(s) with their paths"
            return "accepted (the schema allows unknown keys); nothing was created"

        async def by_address() -> str:
            """Plans find runs by name and version: a server that ignored the filters would show others' runs."""
            runs = await client.get_runs(project_ids=[_need(state, "project_id")],
                                         name_ilikes=[escape_ilike(DOCTOR_NAME)], versions=[DOCTOR_VERSION],
                                         limit=1)
            stray = [r for r in runs if (r.name, r.version) != (DOCTOR_NAME, DOCTOR_VERSION)]
            if stray:
                raise _Unmet(f"a look-up of {DOCTOR_NAME}@{DOCTOR_VERSION} answered run {stray[0].id} "
                             f"({stray[0].name}@{stray[0].version}): the name and version filters were ignored",
                             "plans would read the wrong runs; report it with this output")
            return f"the filters hold ({len(runs)} run(s) at the unused address {DOCTOR_NAME}@{DOCTOR_VERSION})"

        async def active() -> str:
            runs = await client.get_runs(project_ids=[_need(state, "project_id")], statuses=list(ACTIVE_STATUSES),
                                         sort=["id:asc"], limit=1, offset=0)
            latest = await client.get_runs(project_ids=[_need(state, "project_id")], limit=1)
            if latest:
                state["run_id"] = latest[0].id
            return f"{len(runs)} active run(s) on the first page"

        async def events() -> str:
            return f"{len(await client.get_events(_need_run(state), limit=1))} event(s)"

        async def metrics() -> str:
            return f"{len(await client.get_metrics(_need_run(state), limit=1))} metric(s)"

        async def checkpoints() -> str:
            return f"{len(await client.get_checkpoints(run_ids=[_need_run(state)], limit=1))} checkpoint(s)"

        async def gpus() -> str:
            found = await client.get_available_system_gpus()
            return ", ".join(g.type + (f" x{g.count}" if g.count is not None else "") for g in found) or "none"

        steps: list[tuple[str, Callable[[], Awaitable[str]]]] = [
            ("server answers and credentials are accepted", reach), ("project exists", project_id),
            ("blueprint look-up", lookup), ("config validation (a known-bad config)", validation),
            ("run look-up by name and version", by_address), ("active runs of the project", active),
            ("events of a run", events), ("metrics of a run", metrics), ("checkpoints of a run", checkpoints),
            ("GPU types", gpus)]
        reached = True
        for name, step in steps:
            if not reached:
                report.checks.append(Check(name, "skipped", "the server was not reached"))
                continue
            check = await _run(name, step, client, backend)
            report.checks.append(check)
            if name == steps[0][0] and check.outcome == "failed":
                reached = False
    return report


def _documented_names() -> Check:
    """Which of the documented names the SDK backend calls the installed SDK has."""
    from chariot_apply.backends.sdk.surface import survey

    found = survey()
    missing = [name for name, there in found.items() if not there]
    if missing:
        return Check(SDK_NAMES, "failed", f"{len(found) - len(missing)} of {len(found)} found; missing: "
                     + ", ".join(missing), request="import", hint="install the SDK your Chariot serves (pip install "
                     "https://<your chariot>/docs/static/chariot_client-<version>-py3-none-any.whl), or choose "
                     "--backend rest")
    return Check(SDK_NAMES, "ok", f"all {len(found)} found: " + ", ".join(found))


class _Skip(Exception):
    pass


class _Unmet(Exception):
    def __init__(self, detail: str, hint: str) -> None:
        super().__init__(detail)
        self.hint = hint


def _need(state: dict[str, Any], key: str) -> Any:
    if key not in state:
        raise _Skip("the project was not found")
    return state[key]


def _need_run(state: dict[str, Any]) -> str:
    if "run_id" not in state:
        raise _Skip("the project has no run to read")
    return str(state["run_id"])


async def _run(name: str, step: Callable[[], Awaitable[str]], client: Backend, backend: str) -> Check:
    method, constant, sdk_call = ROUTES[name]
    asked = sdk_call if backend == "sdk" else f"{method} {_path(constant)}"
    try:
        return Check(name, "ok", await step())
    except _Skip as exc:
        return Check(name, "skipped", str(exc))
    except _Unmet as exc:
        return Check(name, "failed", str(exc), request=asked, hint=exc.hint)
    except ChariotError as exc:
        return _failure(name, exc, asked, constant, backend)


def _path(constant: str) -> str:
    from chariot_apply.chariot import rest_api as api

    value = getattr(api, constant)
    return value("{run_id}", "/events") if callable(value) else str(value)


def _failure(name: str, exc: ChariotError, asked: str, constant: str, backend: str) -> Check:
    status = getattr(exc, "status", None)
    answer = f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip() if status else type(exc).__name__
    body = (getattr(exc, "body", None) or "").strip()
    if body:
        answer += f": {body[:200]}"
    line = api_line(constant)
    if backend == "sdk":
        route_fix = ("the SDK's call failed: check its configuration (chariot init) and that it is the SDK your "
                     "Chariot serves, or try --backend rest with CHARIOT_URL")
    else:
        route_fix = (f"switch to the SDK backend (--backend sdk), or correct chariot_apply/chariot/rest_api.py "
                     f"line {line} ({constant})" if line else "switch to the SDK backend (--backend sdk)")
    if backend != "sdk" and isinstance(exc, NotFoundError) and status == 404 and not body.startswith("{"):
        hint = f"the gateway has no such route (a plain-text 404): our REST model has it wrong; {route_fix}"
    elif isinstance(exc, TransportError):
        hint = "check CHARIOT_URL (scheme, host, port), the network and proxies" if backend == "rest" else \
            "check the SDK's configuration (chariot init) and the network"
    elif isinstance(exc, ApiException) and status is not None and status >= 500:
        hint = "the server failed: try again, and quote the request id if it persists"
    else:
        hint = exc.hint or route_fix
    return Check(name, "failed", exc.message, request=asked, request_id=getattr(exc, "request_id", None),
                 answer=answer, hint=hint)
