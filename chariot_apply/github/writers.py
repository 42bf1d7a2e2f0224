"""Writers kept apart across runners, and the last commit that was applied: both recorded as GitHub deployments.

Each run of the Action that writes (``apply``, ``reconcile``) records itself as a deployment of its commit to its
environment (task ``chariot-apply``), ``in_progress`` while it works. Before it plans, it waits its turn: every
earlier deployment still ``in_progress`` whose workflow run GitHub says is still running is another writer (two
created at once: the older goes first). Once done it says ``success`` (every declared change merged up to its
commit is in Chariot) or ``failure``. The newest ``success`` is the last applied commit: the next writer applies
what was merged since then, so that a merge whose apply was cancelled is caught up (``github/gate.py``).

GitHub's concurrency groups keep one pending run per group and cancel the others; this does not rely on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.github.api import Deployment, GitHubApi, GitHubError

TASK = "chariot-apply"
#: A writer whose run GitHub cannot confirm is taken for gone after this long.
UNCONFIRMED_FOR = timedelta(hours=6)
#: Earlier deployments looked at for a writer still at work: the newest this many.
LOOKED_AT = 20
ACTIVE_STATES = ("in_progress", "queued", "pending")


class OtherWriter(UserError):
    """Another writer run of this repository and environment is still at work."""

    code = codes.OTHER_WRITER


@dataclass
class Turn:
    """This run's turn to write: its deployment, and what the record said when it began."""

    api: GitHubApi
    repository: str
    deployment: Deployment
    last_applied: str | None  # the newest commit a writer brought Chariot to (None: none recorded)

    def finish(self, applied: bool, description: str) -> None:
        """``success`` when every declared change merged up to this commit is in Chariot, else ``failure``."""
        self.api.set_deployment_state(self.repository, self.deployment.id, "success" if applied else "failure",
                                      description)


def take_turn(api: GitHubApi, repository: str, sha: str, environment: str, run_id: int | None, command: str, *,
              wait: float, say: Callable[[str], None], poll: float = 5.0) -> Turn:
    """Record this writer and wait for the earlier ones still at work, at most ``wait`` seconds (0: not at all):
    ``OtherWriter`` then, with this run's record closed as ``inactive`` (it wrote nothing)."""
    mine = api.create_deployment(repository, sha, environment, TASK, {"run_id": run_id, "command": command},
                                 f"chariot-apply {command} (run {run_id})")
    api.set_deployment_state(repository, mine.id, "in_progress", f"chariot-apply {command}: at work")
    deadline = time.monotonic() + wait
    told = False
    while True:
        recorded = api.deployments(repository, environment, TASK)
        busy = _at_work(api, repository, [d for d in recorded if d.id < mine.id][:LOOKED_AT])
        if busy is None:
            return Turn(api, repository, mine, _last_applied(api, repository, recorded, mine.id))
        what = f"{busy.payload.get('command', 'a writer')} of workflow run {busy.payload.get('run_id', '?')} " \
               f"(deployment {busy.id}, commit {busy.sha[:12]})"
        if time.monotonic() >= deadline:
            api.set_deployment_state(repository, mine.id, "inactive", "another writer was at work: nothing written")
            raise OtherWriter(f"another writer to {environment} is at work: {what}",
                              hint="its run carries on; this one wrote nothing (the next apply or reconcile "
                                   "catches up whatever was merged)")
        if not told:
            say(f"waiting for another writer to {environment}: {what}")
            told = True
        time.sleep(poll)


def _at_work(api: GitHubApi, repository: str, earlier: list[Deployment]) -> Deployment | None:
    """The oldest of ``earlier`` still at work: its record says so and GitHub says its run is still running."""
    for deployment in sorted(earlier, key=lambda d: d.id):
        if api.deployment_state(repository, deployment.id) not in ACTIVE_STATES:
            continue
        run_id = deployment.payload.get("run_id")
        if isinstance(run_id, int) and not isinstance(run_id, bool):
            try:
                if api.workflow_run(repository, run_id).active:
                    return deployment
            except GitHubError:
                pass  # no such run: gone
            continue
        if _age(deployment) < UNCONFIRMED_FOR:
            return deployment
    return None


def last_applied_commit(api: GitHubApi, repository: str, environment: str) -> str | None:
    """The newest commit a writer brought Chariot to, as the writers' record says (None: none recorded)."""
    return _last_applied(api, repository, api.deployments(repository, environment, TASK), mine=-1)


def _last_applied(api: GitHubApi, repository: str, recorded: list[Deployment], mine: int) -> str | None:
    """The commit of the newest writer that brought Chariot to every declared change merged up to it."""
    for deployment in recorded:  # newest first
        if deployment.id != mine and api.deployment_state(repository, deployment.id) == "success":
            return deployment.sha
    return None


def _age(deployment: Deployment) -> timedelta:
    try:
        created = datetime.fromisoformat(deployment.created_at.replace("Z", "+00:00"))
    except ValueError:
        return UNCONFIRMED_FOR
    return datetime.now(UTC) - created
