"""The Chariot model: typed models, statuses, errors, ILIKE, SemVer and JSON values, as ``chariot.training_v2``
documents them, and the ``Backend`` protocol every way of reaching a Chariot implements. Pure: the manifests,
the planner and the renderers import only this package, never a backend (``tests/test_layering.py``)."""
