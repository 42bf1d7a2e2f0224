"""Config values that look secret (or are marked ``sensitive``) never reach any output."""

from __future__ import annotations

from typing import Any

from chariot_apply.plan.model import BlockedReplace, Create, Difference, Item, Plan, Replace
from chariot_apply.plan.sensitive import REDACTED, is_secret


def redact_config(config: Any, sensitive: tuple[str, ...], prefix: str = "") -> Any:
    if not isinstance(config, dict):
        return config
    out = {}
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        out[key] = REDACTED if is_secret(path, sensitive) else redact_config(value, sensitive, path)
    return out


def _redact_difference(diff: Difference, sensitive: tuple[str, ...]) -> Difference:
    if not diff.path.startswith("config."):
        return diff
    path = diff.path.removeprefix("config.").replace("[", ".").replace("]", "")
    if is_secret(path, sensitive):
        return diff.model_copy(update={"live": REDACTED if diff.in_live else None,
                                       "declared": REDACTED if diff.in_manifest else None})
    return diff.model_copy(update={"live": redact_config(diff.live, sensitive, path),
                                   "declared": redact_config(diff.declared, sensitive, path)})


def redact_item(item: Item) -> Item:
    update: dict[str, Any] = {}
    if isinstance(item, Create | Replace | BlockedReplace) and item.run is not None:
        update["run"] = item.run.model_copy(update={"config": redact_config(item.run.config, item.sensitive)})
    if isinstance(item, Replace | BlockedReplace):
        update["differences"] = tuple(_redact_difference(d, item.sensitive) for d in item.differences)
    return item.model_copy(update=update) if update else item


def redact_plan(plan: Plan) -> Plan:
    return plan.model_copy(update={"items": tuple(redact_item(i) for i in plan.items)})
