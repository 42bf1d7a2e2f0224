"""Bearer tokens and client credentials against an emulator that demands them."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from chariot_apply.backends.rest.auth import ClientCredentials
from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.backends.rest.settings import ChariotSettings, SettingsError
from chariot_apply.chariot.errors import AuthenticationError
from chariot_apply.emulator.app import AuthConfig
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import EmulatorTransport
from tests.factories import FAST_RETRY

pytestmark = pytest.mark.anyio

TOKEN, CLIENT_ID, SECRET = "static-token-123", "ci-bot", "s3cr3t-value"


@pytest.fixture
def auth() -> AuthConfig:
    return AuthConfig(tokens={TOKEN}, clients={CLIENT_ID: SECRET}, token_ttl_seconds=120)


def _client(app, **settings) -> AsyncChariotClient:
    return AsyncChariotClient.from_settings(ChariotSettings(url="http://e", **settings),
                                            transport=EmulatorTransport(app), retry=FAST_RETRY)


async def test_unauthenticated_calls_are_refused(app) -> None:
    async with _client(app) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.get_runs()
    assert info.value.status == 401 and info.value.message == "invalid bearer token"
    assert "CHARIOT_TOKEN" in info.value.hint


async def test_static_token(app) -> None:
    async with _client(app, token=TOKEN) as c:
        assert await c.get_runs() == []
    async with _client(app, token="wrong") as c:
        with pytest.raises(AuthenticationError):
            await c.get_runs()


async def test_client_credentials_log_in_once_and_reuse_the_token(app, auth: AuthConfig) -> None:
    async with _client(app, client_id=CLIENT_ID, client_secret=SECRET) as c:
        for _ in range(3):
            await c.get_runs()
    assert len(auth.issued) == 1


async def test_refused_secret(app) -> None:
    async with _client(app, client_id=CLIENT_ID, client_secret="nope") as c:
        with pytest.raises(AuthenticationError, match="invalid client credentials"):
            await c.get_runs()


async def test_token_expired_at_the_server_is_renewed_once(app, auth: AuthConfig, clock: ManualClock) -> None:
    async with _client(app, client_id=CLIENT_ID, client_secret=SECRET) as c:
        await c.get_runs()
        clock.advance(auth.token_ttl_seconds + 1)  # the server's clock: our token is now refused
        await c.get_runs()
    assert len(auth.issued) == 2


async def test_token_is_refreshed_before_it_expires(app, auth: AuthConfig) -> None:
    now = [0.0]
    async with AsyncChariotClient("http://e", transport=EmulatorTransport(app)) as c:
        c.credentials = ClientCredentials(CLIENT_ID, SecretStr(SECRET), c._login, clock=lambda: now[0])
        await c.get_runs()
        now[0] = auth.token_ttl_seconds - 10  # within the refresh margin
        await c.get_runs()
    assert len(auth.issued) == 2


async def test_secrets_never_show(app) -> None:
    settings = ChariotSettings(url="http://e", client_id=CLIENT_ID, client_secret="hunter2-secret")
    async with AsyncChariotClient.from_settings(settings, transport=EmulatorTransport(app)) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.get_runs()
        texts = [repr(settings), str(settings), repr(c), repr(c.credentials), str(info.value), repr(info.value)]
    assert not any("hunter2" in t for t in texts)
    static = ChariotSettings(url="http://e", token=TOKEN)
    assert TOKEN not in repr(static) + repr(AsyncChariotClient.from_settings(static).credentials)


def test_settings_from_environment() -> None:
    assert ChariotSettings.from_env({}) is None
    settings = ChariotSettings.from_env({"CHARIOT_URL": "https://c.example", "CHARIOT_TOKEN": "t"})
    assert settings is not None and settings.token is not None and settings.token.get_secret_value() == "t"
    with pytest.raises(SettingsError, match="together"):
        ChariotSettings.from_env({"CHARIOT_URL": "https://c", "CHARIOT_CLIENT_ID": "id"})


def test_a_url_without_scheme_is_refused() -> None:
    with pytest.raises(SettingsError, match="must start with http") as info:
        ChariotSettings.from_env({"CHARIOT_URL": "chariot.example.com"})
    assert "Value error" not in str(info.value) and "CHARIOT_" in (info.value.hint or "")


@pytest.mark.parametrize("url", ["user:hunter2@chariot.example.com", "ftp://user:hunter2@chariot.example.com/x"])
def test_a_password_in_the_url_is_never_echoed(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        ChariotSettings.from_env({"CHARIOT_URL": url})
    assert "hunter2" not in str(info.value) and "chariot.example.com" in str(info.value)
