"""``chariot.client.connect``: where the SDK's calls go. The real one takes client credentials, a bearer token or
certificates; the stand-in takes a URL and a token, or ``CHARIOT_SDK_STANDIN_URL`` (and ``_TOKEN``, ``_TIMEOUT``)
from the environment."""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from typing import Any

from pydantic import SecretStr

from chariot_apply.backends.rest.auth import StaticToken
from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.backends.rest.retry import RetryPolicy
from chariot_apply.backends.rest.sync import ChariotClient

_settings: dict[str, Any] = {}
_local = threading.local()  # one blocking client per thread: the SDK is called from a thread pool
_made: list[ChariotClient] = []  # every thread's client, closed when the process ends
_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    with _lock:
        made, _made[:] = list(_made), []
    for client in made:
        with contextlib.suppress(Exception):
            client.close()


def connect(host: str | None = None, *, bearer_token: str | None = None) -> None:
    _settings.update(host=host, bearer_token=bearer_token)
    _local.__dict__.clear()


def _session() -> ChariotClient:
    """This thread's client of the configured Chariot."""
    client = getattr(_local, "client", None)
    if client is None:
        host = _settings.get("host") or os.environ.get("CHARIOT_SDK_STANDIN_URL")
        if not host:
            raise RuntimeError("the Chariot SDK is not connected: call chariot.client.connect()")
        token = _settings.get("bearer_token") or os.environ.get("CHARIOT_SDK_STANDIN_TOKEN")
        credentials = StaticToken(SecretStr(token)) if token else None
        timeout = float(os.environ.get("CHARIOT_SDK_STANDIN_TIMEOUT", "30"))
        client = ChariotClient(AsyncChariotClient(host, credentials=credentials, retry=RetryPolicy(attempts=1),
                                                  timeout_seconds=timeout))
        _local.client = client
        with _lock:
            _made.append(client)
    return client
