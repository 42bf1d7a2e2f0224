"""Which Chariot to talk to: the one configured (``CHARIOT_URL`` ...), or the embedded emulator."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from chariot_apply.backends.rest.settings import ChariotSettings, without_credentials
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.plan.model import EMBEDDED_EMULATOR, SDK_CONFIGURED

if TYPE_CHECKING:  # the HTTP client loads when a command first talks to Chariot
    import httpx

    from chariot_apply.chariot.backend import Backend
    from chariot_apply.emulator.catalog import GpuSeed

EMBEDDED_URL = "http://embedded-emulator"
#: Where the embedded emulator keeps its state, beside the project file.
EMBEDDED_DB = Path(".chariot-apply") / "emulator.db"


BackendChoice = Literal["auto", "sdk", "rest"]


@dataclass(frozen=True)
class Connection:
    settings: ChariotSettings | None  # None: the embedded emulator (REST backend)
    embedded_db: Path = EMBEDDED_DB
    backend: Literal["rest", "sdk"] = "rest"

    @property
    def server_name(self) -> str:
        """The Chariot this connection reaches, as plans name it (never with credentials)."""
        if self.backend == "sdk":
            return SDK_CONFIGURED
        return EMBEDDED_EMULATOR if self.settings is None else without_credentials(self.settings.url)

    @property
    def identity(self) -> str:
        """Which Chariot this is, as the writers' lock names it: the URL (without credentials), the embedded
        emulator's database, or the SDK's own configuration."""
        if self.backend == "sdk":
            return "sdk"
        if self.settings is None:
            return f"embedded:{self.embedded_db.resolve()}"
        return without_credentials(self.settings.url).rstrip("/")

    @property
    def notice(self) -> str | None:
        if self.backend == "sdk":
            ignored = (f" (CHARIOT_URL {without_credentials(self.settings.url)} is not used by it)"
                       if self.settings else "")
            return f"chariot-apply: reaching Chariot through the official SDK, as it is configured{ignored}."
        if self.settings is not None:
            return None
        return ("chariot-apply: no Chariot server configured; using the embedded emulator in "
                f"{_shown(self.embedded_db)}. "
                "Set CHARIOT_URL and CHARIOT_TOKEN (or CHARIOT_CLIENT_ID/CHARIOT_CLIENT_SECRET) for a real Chariot.")

    def client(self) -> Backend:
        from chariot_apply.backends.rest.client import AsyncChariotClient

        if self.backend == "sdk":
            from chariot_apply.backends.sdk import SdkBackend

            return SdkBackend()
        if self.settings is not None:
            return AsyncChariotClient.from_settings(self.settings)
        return AsyncChariotClient(EMBEDDED_URL, transport=embedded_transport(self.embedded_db))


class SharedClient:
    """One client for a whole command, made when first needed: a command that plans, applies and waits, or a
    ``status --watch`` that polls for hours, keeps its connections instead of opening new ones each time."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._client: Backend | None = None

    @asynccontextmanager
    async def borrow(self) -> AsyncIterator[Backend]:
        """The client, left open on the way out (``close`` ends it)."""
        if self._client is None:
            self._client = self._connection.client()
        yield self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _shown(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


TIME_SCALE_VARIABLE = "CHARIOT_EMULATOR_TIME_SCALE"
#: The emulated cluster's GPUs, ``A100=8,T4=4`` (embedded and served alike).
GPUS_VARIABLE = "CHARIOT_EMULATOR_GPUS"


def embedded_transport(db: Path) -> httpx.AsyncBaseTransport:
    """The embedded emulator, at the pace ``CHARIOT_EMULATOR_TIME_SCALE`` asks for (10: ten times faster)."""
    from chariot_apply.emulator.app import create_app
    from chariot_apply.emulator.faults import EmulatorTransport
    from chariot_apply.emulator.lifecycle import LifecycleTiming
    from chariot_apply.emulator.store import EmulatorStore

    scale = os.environ.get(TIME_SCALE_VARIABLE, "").strip()
    try:
        timing = LifecycleTiming().scaled(float(scale)) if scale else LifecycleTiming()
    except (ValueError, ZeroDivisionError):
        raise UserError(f"{TIME_SCALE_VARIABLE}={scale!r} is not a positive number",
                        hint="for example 10, to run the emulator ten times faster", code=codes.SETTINGS) from None
    if timing.step_seconds <= 0:
        raise UserError(f"{TIME_SCALE_VARIABLE} must be more than zero", code=codes.SETTINGS)
    gpus = gpu_inventory(os.environ.get(GPUS_VARIABLE))
    return EmulatorTransport(create_app(EmulatorStore(db, timing=timing, gpus=gpus)))


def gpu_inventory(text: str | None) -> list[GpuSeed] | None:
    """The emulated cluster's GPUs as ``--gpus``/``CHARIOT_EMULATOR_GPUS`` give them (None: the catalog's)."""
    from chariot_apply.emulator.catalog import parse_gpus

    if text is None or not text.strip():
        return None
    try:
        return parse_gpus(text)
    except ValueError as exc:
        raise UserError(f"GPUs {text!r}: {exc}", hint="give TYPE=COUNT pairs, for example A100=8,T4=4",
                        code=codes.SETTINGS) from None


def connection(url: str | None = None, embedded_db: Path = EMBEDDED_DB, env: Mapping[str, str] | None = None,
               backend: BackendChoice = "auto") -> Connection:
    """The connection to ``url`` (as the workspace chose it: ``workspace.project.choose``), with the rest of the
    ``CHARIOT_*`` settings from ``env``; no URL: the embedded emulator. ``auto`` is the SDK where it imports and no
    Chariot URL is named for the REST model; the embedded emulator is always reached over REST."""
    settings = ChariotSettings.from_env(env, url=url) if url else None
    if backend == "auto":
        backend = "sdk" if settings is None and sdk_importable() else "rest"
    if backend == "sdk":
        from chariot_apply.backends.sdk import SdkBackend

        SdkBackend.check_installed()  # a clear error now, not at the first request
    return Connection(settings, embedded_db, backend)


def sdk_importable() -> bool:
    """Whether ``chariot.training_v2`` can be imported here, found without importing it."""
    try:
        return importlib.util.find_spec("chariot.training_v2") is not None
    except (ImportError, ValueError):
        return False
