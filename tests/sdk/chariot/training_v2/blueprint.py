from __future__ import annotations

from chariot.training_v2._calls import call as _call


def lookup_blueprint_id(name: str, version_ilike: str | None = None) -> str:
    """Returns the id of the blueprint specified by the arguments."""
    if not name:
        raise ValueError("name must be provided")
    return _call(lambda c: c.lookup_blueprint_id(name, version_ilike))
