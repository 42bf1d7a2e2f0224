"""The SDK as its reference documents it: which module documents each name the backend calls, and nothing else.
The reference documents its functions in the submodules of ``chariot.training_v2`` (``run``, ``checkpoint``,
``blueprint``, ``exceptions``); ``chariot.projects.get_project_id`` and
``chariot.system_resources.get_available_system_gpus`` it names without documenting. A name missing from the
installed SDK is a clear error when it is needed, never an AttributeError."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from chariot_apply.chariot.errors import ChariotError
from chariot_apply.diagnostics import codes

SDK_MODULE = "chariot.training_v2"
INSTALL_HINT = ("install your Chariot's own SDK: pip install https://<your chariot>/docs/static/"
                "chariot_client-<version>-py3-none-any.whl (or choose --backend rest)")

#: Every name the backend uses, under the module the reference documents it in.
SURFACE: dict[str, tuple[str, ...]] = {
    "chariot.training_v2.blueprint": ("lookup_blueprint_id",),
    "chariot.training_v2.run": ("create_run", "get_runs", "validate_run_config", "Resources", "Gpu"),
    "chariot.training_v2.checkpoint": ("get_checkpoints", "delete_checkpoints", "download_checkpoint",
                                       "create_model_from_checkpoint"),
    "chariot.training_v2.exceptions": ("ApiException", "BlueprintDoesNotExistError"),
    "chariot.projects": ("get_project_id",),
    "chariot.system_resources": ("get_available_system_gpus",),
}


class SdkMissingError(ChariotError):
    code = codes.SDK_MISSING
    hint = INSTALL_HINT


def check_installed() -> None:
    """Raise ``SdkMissingError`` unless the SDK imports."""
    try:
        importlib.import_module(SDK_MODULE)
    except ImportError as exc:
        raise SdkMissingError(f"the backend is 'sdk' but the Chariot SDK does not import here ({exc})") from None


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def documented(module: str, name: str) -> Any:
    """``module.name`` from the installed SDK, or a clear error saying the SDK here lacks it."""
    found = getattr(_module(module), name, None)
    if found is None:
        raise SdkMissingError(f"the installed Chariot SDK has no {module}.{name}, which its reference documents "
                              "and the SDK backend calls; it may be older or newer than the reference",
                              hint="install the SDK your Chariot serves, or choose --backend rest")
    return found


def survey() -> dict[str, bool]:
    """Each documented name the backend uses, and whether the installed SDK has it (for ``doctor``)."""
    return {f"{module}.{name}": getattr(_module(module), name, None) is not None
            for module, names in SURFACE.items() for name in names}
