"""The stand-in ``chariot.training_v2`` package. The reference documents its functions and classes in the
submodules (``blueprint``, ``checkpoint``, ``exceptions``, ``run``); at the package itself it names only
``chariot.training_v2.lookup_blueprint_id`` and ``chariot.training_v2.Run``, so that is all it exports."""

from chariot.training_v2.blueprint import lookup_blueprint_id
from chariot.training_v2.run import Run

__all__ = ["Run", "lookup_blueprint_id"]
