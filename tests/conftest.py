"""Fixtures: an emulator per test (in-memory SQLite, manual clock) and real clients talking to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.app import AuthConfig, create_app
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import EmulatorTransport, Faults
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from tests.action_harness import ActionRunner
from tests.factories import FAST_RETRY
from tests.github_fake import FakeGitHub


@pytest.fixture(autouse=True, scope="session")
def writers_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The writers' locks of this test session (workspace.locks), in a folder of its own: never the user's, and the
    same for every checkout, process and thread of the session (a test of two checkouts shares them, as on one
    machine)."""
    os.environ["CHARIOT_APPLY_LOCK_DIR"] = str(tmp_path_factory.mktemp("writers-locks"))
    yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> Iterator[EmulatorStore]:
    store = EmulatorStore(":memory:", clock=clock)
    yield store
    store.close()


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def auth() -> AuthConfig:
    return AuthConfig()


@pytest.fixture
def app(store: EmulatorStore, faults: Faults, auth: AuthConfig):
    return create_app(store, faults=faults, auth=auth)




@pytest.fixture
async def client(app) -> AsyncIterator[AsyncChariotClient]:
    async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(app), retry=FAST_RETRY) as c:
        yield c


@pytest.fixture
def server(app) -> Iterator[BackgroundServer]:
    with BackgroundServer(app) as running:
        yield running


@pytest.fixture
async def http_client(server: BackgroundServer) -> AsyncIterator[AsyncChariotClient]:
    async with AsyncChariotClient(server.url, retry=FAST_RETRY, timeout_seconds=10) as c:
        yield c


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: BackgroundServer) -> Path:
    """A repository checkout: cwd, a project file, and CHARIOT_URL pointing at a loopback emulator."""
    monkeypatch.chdir(tmp_path)
    for name in ("CHARIOT_TOKEN", "CHARIOT_CLIENT_ID", "CHARIOT_CLIENT_SECRET", "CHARIOT_APPLY_OWNER",
                 "CHARIOT_APPLY_PROJECT", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHARIOT_URL", server.url)
    (tmp_path / "chariot-apply.yaml").write_text("owner: team-test\nproject: vision\nmanifests: [runs/]\n")
    (tmp_path / "runs").mkdir()
    return tmp_path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout as the GitHub Action sees it: the project in `training/`, manifests in `training/runs/`."""
    checkout = tmp_path / "checkout"
    (checkout / "training" / "runs").mkdir(parents=True)
    (checkout / "training" / "chariot-apply.yaml").write_text("owner: gh-team\nproject: vision\nmanifests: [runs/]\n")
    return checkout




@pytest.fixture
def github() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
def github_server(github: FakeGitHub) -> Iterator[BackgroundServer]:
    with BackgroundServer(github.app()) as running:
        yield running


@pytest.fixture
def runner(tmp_path: Path, github_server: BackgroundServer, github: FakeGitHub) -> ActionRunner:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    return ActionRunner(temp, github_server.url, github)
