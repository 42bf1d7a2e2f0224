"""``chariot.projects.get_project_id``: named by the reference, not documented (signature chosen: docs/sdk.md)."""

from __future__ import annotations

from chariot.training_v2._calls import call as _call


def get_project_id(name: str) -> str:
    return _call(lambda c: c.get_project_id(name))
