from __future__ import annotations

from datetime import datetime
from typing import Literal

from chariot.training_v2._base import BaseModelWithDatetime as _Base
from chariot.training_v2._calls import call as _call
from chariot.training_v2._calls import dumped as _dumped


class Checkpoint(_Base):
    id: str | None = None
    run_id: str | None = None
    global_step: int | None = None
    project_id: str | None = None
    created_at: datetime | None = None
    status: str | None = None
    status_updated_at: datetime | None = None
    bucket_name: str | None = None
    key_prefix: str | None = None

    def create_model(self, *, name: str, version: str, summary: str, project_id: str | None = None) -> str:
        """Create a model from this checkpoint."""
        return create_model_from_checkpoint(checkpoint_id=self.id or "", name=name, version=version,
                                            summary=summary, project_id=project_id)


def create_model_from_checkpoint(*, checkpoint_id: str, name: str, version: str, summary: str,
                                 project_id: str | None = None) -> str:
    return _call(lambda c: c.create_model_from_checkpoint(checkpoint_id=checkpoint_id, name=name, version=version,
                                                          summary=summary, project_id=project_id))


def delete_checkpoints(*, ids: list[str] | None = None, run_ids: list[str] | None = None) -> None:
    if not ids and not run_ids:
        raise ValueError("either id or run_id must be specified")
    _call(lambda c: c.delete_checkpoints(ids=ids, run_ids=run_ids))


def download_checkpoint(id: str, file_dir: str) -> None:
    _call(lambda c: c.download_checkpoint(id, file_dir))


def get_checkpoints(*, ids: list[str] | None = None, run_ids: list[str] | None = None,
                    project_ids: list[str] | None = None, global_steps: list[int] | None = None,
                    statuses: list[Literal['incomplete', 'complete']] | None = None,
                    created_before: datetime | None = None, created_after: datetime | None = None,
                    select: list[Literal['id', 'created_at', 'run_id', 'project_id', 'global_step', 'status',
                                         'status_updated_at']] | None = None,
                    sort: list[Literal['id:asc', 'id:desc', 'created_at:asc', 'created_at:desc']] | None = None,
                    limit: int | None = None, offset: int | None = None) -> list[Checkpoint]:
    filters = {k: v for k, v in dict(ids=ids, run_ids=run_ids, project_ids=project_ids, global_steps=global_steps,
                                     statuses=statuses, created_before=created_before, created_after=created_after,
                                     select=select, sort=sort, limit=limit, offset=offset).items() if v is not None}
    return [Checkpoint.model_validate(_dumped(c)) for c in _call(lambda c: c.get_checkpoints(**filters))]
