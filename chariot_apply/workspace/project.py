"""Where a command works: the project file, the manifests, who we are, and which Chariot to use."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError, plain_message
from chariot_apply.manifest.expand import DefaultsRule
from chariot_apply.manifest.file_names import LOCK_FILE, PROJECT_FILE
from chariot_apply.manifest.loader import Loaded, load_manifests
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.policy import Policy
from chariot_apply.manifest.project_file import (
    ProjectFile,
    find_project_file,
    load_project_file,
    project_defaults,
    project_policy,
)
from chariot_apply.plan.model import PlanOptions
from chariot_apply.workspace.connection import EMBEDDED_DB, BackendChoice, Connection, SharedClient, connection
from chariot_apply.workspace.locks import WriterLock
from chariot_apply.workspace.pending_models import PENDING_FILE

if TYPE_CHECKING:
    from chariot_apply.chariot.backend import Backend


@dataclass(frozen=True)
class Workspace:
    """Where manifests are, who we are, and which Chariot to use."""

    project: ProjectFile
    connection: Connection
    paths: tuple[str, ...]
    notices: tuple[str, ...] = ()  # what the user should know about how the settings were chosen
    variables: Mapping[str, str] = field(default_factory=dict)
    defaults: tuple[DefaultsRule, ...] = ()
    lock_path: Path = Path(LOCK_FILE)
    pending_path: Path = PENDING_FILE  # model creates whose outcome is unknown (``pending``)
    policy: Policy | None = None  # the team's rules in force (``policy``, ``policies[CHARIOT_APPLY_POLICY]``)
    shared: SharedClient = field(init=False, compare=False, repr=False)
    writer: WriterLock = field(init=False, compare=False, repr=False)  # one writer per Chariot and owner
    loaded: Loaded = field(default_factory=Loaded, compare=False, repr=False)  # what reading the manifests found

    def __post_init__(self) -> None:
        object.__setattr__(self, "shared", SharedClient(self.connection))
        object.__setattr__(self, "writer", WriterLock(self.connection.identity, self.project.owner))

    def plan_options(self, **flags: Any) -> PlanOptions:
        """The options of a plan here: the owner, the project file's rules and prices, then ``flags``."""
        strict = bool(flags.pop("strict_config", False)) or self.project.strict_config
        return PlanOptions(owner=self.project.owner, strict_config=strict, policy=self.policy,
                           prices=self.project.gpu_prices, currency=self.project.currency, **flags)

    def client(self) -> AbstractAsyncContextManager[Backend]:
        """The command's one Chariot client (made on first use; ``close`` ends it)."""
        return self.shared.borrow()

    async def close(self) -> None:
        await self.shared.close()

    def manifests(self, *, named_are_manifests: bool = True) -> list[DeclaredRun]:
        """The declared runs; YAML files that are not manifests are passed over (``skipped``)."""
        return load_manifests(self.paths, self.project.project, variables=self.variables, defaults=self.defaults,
                              loaded=self.loaded, named_are_manifests=named_are_manifests)

    def skipped(self) -> str | None:
        """One line on the files ``manifests`` passed over as not ours, if any."""
        foreign = self.loaded.foreign
        if not foreign:
            return None
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        return (f"skipped {len(foreign)} YAML file(s) that are not chariot-apply manifests (no apiVersion "
                f"chariot-apply/v1): {shown}")


#: The settings a flag, an environment variable and the project file may each give, and the variable of each. The
#: flag beats the environment, which beats the file: decided here, for every command and the Action alike.
CHOSEN_BY_ENVIRONMENT = {"owner": "CHARIOT_APPLY_OWNER", "project": "CHARIOT_APPLY_PROJECT",
                         "backend": "CHARIOT_APPLY_BACKEND", "chariot_url": "CHARIOT_URL"}


@dataclass(frozen=True)
class Chosen:
    """What the flags, the environment and the project file decide together, and where each value came from."""

    project: ProjectFile  # the project file's settings with owner, project and backend as chosen
    chariot_url: str | None
    sources: Mapping[str, str]  # setting -> "--owner", "CHARIOT_APPLY_OWNER" or the project file


def choose(settings: ProjectFile, env: Mapping[str, str], flags: Mapping[str, str | None], *,
           url_from_file: bool = True) -> Chosen:
    """Each setting from its flag, else its environment variable, else the project file (``url_from_file``: its
    ``server.url`` may name the Chariot; the Action names it itself)."""
    given: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name, variable in CHOSEN_BY_ENVIRONMENT.items():
        if flags.get(name):
            given[name], sources[name] = str(flags[name]), "--" + name.replace("_", "-")
        elif env.get(variable):
            given[name], sources[name] = env[variable], variable
    url = given.pop("chariot_url", None)
    if url is None and url_from_file and settings.server.url:
        url, sources["chariot_url"] = settings.server.url, f"server.url in {PROJECT_FILE}"
    try:
        chosen = ProjectFile.model_validate(settings.model_dump() | given)
    except PydanticValidationError as exc:
        raise UserError("; ".join(f"{sources.get(str(e['loc'][0]), PROJECT_FILE)}: {plain_message(e)}"
                                  for e in exc.errors()), hint="correct the flag or the environment variable",
                                  code=codes.PROJECT_FILE_VALUE) from None
    return Chosen(chosen, url, sources)


def open_workspace(files: Sequence[str] = (), *, config: Path | None = None, owner: str | None = None,
                   project: str | None = None, chariot_url: str | None = None,
                   env: Mapping[str, str] | None = None, need_manifests: bool = True,
                   server_from_project_file: bool = True, variables: Mapping[str, str] | None = None,
                   backend: BackendChoice | None = None) -> Workspace:
    """The project file (``config``, else the nearest upwards), with what the environment and the arguments choose
    over it (``choose``).

    Manifest paths from the project file are relative to it; ``files`` are relative to the working directory.
    The embedded emulator keeps its state beside the project file (else in the working directory), so that
    every directory of one project sees the same runs.
    """
    if config is not None and not config.is_file():
        raise UserError(f"no project file at {config}", code=codes.NO_PROJECT_FILE)
    env = os.environ if env is None else env
    path = config if config is not None else find_project_file(Path.cwd())
    written = load_project_file(path)
    chosen = choose(written, env, {"owner": owner, "project": project, "backend": backend, "chariot_url": chariot_url},
                    url_from_file=server_from_project_file)
    settings = chosen.project
    notices: list[str] = []
    if "owner" not in chosen.sources and "owner" not in written.model_fields_set:
        notices.append(f"chariot-apply: no owner set (no `owner` in {path or PROJECT_FILE}, no CHARIOT_APPLY_OWNER, "
                       f"no --owner): runs are owned by {settings.owner!r}.")
    paths = tuple(files) or tuple(str(path.parent / p) if path else p for p in settings.manifests)
    if need_manifests and not paths:
        raise UserError("no manifests given", hint="pass -f PATH (a file, directory or glob), or list `manifests` "
                        f"in {PROJECT_FILE}", code=codes.NO_MANIFESTS)
    root = path.parent if path is not None else Path.cwd()
    if path is None:  # said once, up front: where this command may write
        notices.append(f"chariot-apply: no {PROJECT_FILE} here or above: the lock file ({LOCK_FILE}) and the "
                       f"embedded emulator's state ({EMBEDDED_DB.parent}/) are written in {root}; create "
                       f"{PROJECT_FILE} where they belong: three lines, owner, project and manifests (see the "
                       "README).")
    link = connection(chosen.chariot_url, embedded_db=root / EMBEDDED_DB, env=env, backend=settings.backend)
    if link.notice:
        notices.append(link.notice)
    # ${VAR}: --var first, then the environment, then `vars:` in the project file.
    values = {k: _text(v) for k, v in settings.vars.items()} | dict(env) | dict(variables or {})
    environment = env.get("CHARIOT_APPLY_POLICY") or None
    return Workspace(settings, link, paths, tuple(notices), values, tuple(project_defaults(path, settings)),
                     root / LOCK_FILE, root / PENDING_FILE, policy=project_policy(path, settings, environment))


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
