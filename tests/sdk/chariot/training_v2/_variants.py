"""The shapes the reference leaves open, one chosen per process by ``CHARIOT_SDK_STANDIN_<NAME>`` (the first is
the default), so that tests exercise each: docs/sdk.md lists them and what each stands for."""

from __future__ import annotations

import os

VARIANTS: dict[str, tuple[str, ...]] = {
    # the class `create_run` and `validate_run_config` raise as "ValidationError": an ApiException with the
    # service's JSON body, pydantic's ValidationError, or a plain Exception with a message
    "validation": ("api", "pydantic", "plain"),
    # what `get_available_system_gpus` returns: Gpu models, dicts, or GPU type names
    "gpus": ("objects", "dicts", "strings"),
    # whether exceptions keep their constructor's arguments as attributes (status, reason, body; id, name)
    "errors": ("attributes", "bare"),
    # what a connection lost during a call raises: an OSError, or the HTTP library's own exception
    "lost": ("oserror", "other"),
}


def variant(name: str) -> str:
    chosen = os.environ.get(f"CHARIOT_SDK_STANDIN_{name.upper()}", VARIANTS[name][0])
    if chosen not in VARIANTS[name]:
        raise RuntimeError(f"CHARIOT_SDK_STANDIN_{name.upper()}={chosen!r}: one of {VARIANTS[name]}")
    return chosen
