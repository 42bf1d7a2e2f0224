"""The stand-in ``chariot.training_v2`` package: its names, as the real package exports them."""

from chariot.training_v2.blueprint import lookup_blueprint_id
from chariot.training_v2.checkpoint import (
    Checkpoint,
    create_model_from_checkpoint,
    delete_checkpoints,
    download_checkpoint,
    get_checkpoints,
)
from chariot.training_v2.exceptions import ApiException, BlueprintDoesNotExistError
from chariot.training_v2.run import (
    Event,
    Gpu,
    Metric,
    Progress,
    Resources,
    Run,
    create_run,
    get_runs,
    validate_run_config,
)

__all__ = ["ApiException", "BlueprintDoesNotExistError", "Checkpoint", "Event", "Gpu", "Metric", "Progress",
           "Resources", "Run", "create_model_from_checkpoint", "create_run", "delete_checkpoints",
           "download_checkpoint", "get_checkpoints", "get_runs", "lookup_blueprint_id", "validate_run_config"]
