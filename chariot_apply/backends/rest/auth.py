"""Bearer tokens: a fixed one, or one obtained by client credentials and refreshed before it expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from pydantic import SecretStr

#: Refresh this long before the server says the token expires.
REFRESH_MARGIN_SECONDS = 30.0


class Credentials(Protocol):
    async def token(self) -> str | None:
        """The bearer token to send now (``None``: send no Authorization header)."""

    async def invalidate(self, token: str | None) -> bool:
        """The server refused ``token``; return True when a fresh one may succeed."""


class NoCredentials:
    async def token(self) -> str | None:
        return None

    async def invalidate(self, token: str | None) -> bool:
        return False


class StaticToken:
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticToken(**********)"

    async def token(self) -> str | None:
        return self._token.get_secret_value()

    async def invalidate(self, token: str | None) -> bool:
        return False


LoginFn = Callable[[str, str], Awaitable[tuple[str, float]]]


class ClientCredentials:
    """Exchanges id and secret for an access token; one login at a time, shared by concurrent calls."""

    def __init__(self, client_id: str, client_secret: SecretStr, login: LoginFn,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self._login = login
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=**********)"

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at - REFRESH_MARGIN_SECONDS

    async def token(self) -> str | None:
        if self._fresh():
            return self._token
        async with self._lock:
            if not self._fresh():
                token, expires_in = await self._login(self.client_id, self._secret.get_secret_value())
                self._token, self._expires_at = token, self._clock() + expires_in
        return self._token

    async def invalidate(self, token: str | None) -> bool:
        async with self._lock:
            if token is not None and token == self._token:
                self._token = None
        return True
