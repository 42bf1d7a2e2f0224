"""What the runner says happened: the event, its repository, its pull request and the commit to plan."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.github.api import PullRequest, label_names


class EventError(UserError):
    code = codes.GITHUB_EVENT
    hint = "GITHUB_EVENT_PATH must name the runner's event payload (a JSON file); run this inside GitHub Actions"


@dataclass(frozen=True)
class GitHubEvent:
    name: str  # pull_request, push, schedule, workflow_dispatch ...
    repository: str | None
    pull_request: PullRequest | None
    sha: str | None  # the commit planned: a pull request's head, else the commit the run is for
    labels: tuple[str, ...] = ()  # the pull request's labels, as the event saw them
    from_fork: bool = False  # the pull request's head is in another repository: its runs get no secrets

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubEvent:
        payload = _payload(env.get("GITHUB_EVENT_PATH"))
        repository = env.get("GITHUB_REPOSITORY") or _get(payload, "repository", "full_name")
        pull = payload.get("pull_request")
        pr = None
        labels: tuple[str, ...] = ()
        from_fork = False
        sha = env.get("GITHUB_SHA") or (payload.get("after") if isinstance(payload.get("after"), str) else None)
        if isinstance(pull, dict) and "number" in pull:
            number = pull["number"]
            if not isinstance(number, int) or isinstance(number, bool):
                raise EventError(f"the event payload has a pull_request.number that is not a number: {number!r}")
            pr = PullRequest(repository, number) if isinstance(repository, str) and repository else None
            head = _get(pull, "head", "sha")
            sha = head if isinstance(head, str) else sha
            labels = label_names(pull.get("labels"))
            head_repo = _get(pull, "head", "repo", "full_name")
            # head.repo.fork says whether the head repository is a fork of anything (true for a pull request
            # inside a fork too): what matters is whether it is another repository than the base.
            from_fork = isinstance(head_repo, str) and isinstance(repository, str) and \
                head_repo.lower() != repository.lower()
        return cls(env.get("GITHUB_EVENT_NAME", ""), repository if isinstance(repository, str) else None, pr, sha,
                   labels, from_fork)


def _payload(event_path: str | None) -> dict[str, Any]:
    if not event_path or not Path(event_path).is_file():
        return {}
    try:
        payload = json.loads(Path(event_path).read_bytes())
    except (OSError, ValueError) as exc:
        raise EventError(f"cannot read the event payload {event_path}: {exc}") from None
    return payload if isinstance(payload, dict) else {}


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def pull_request_from_event(event_path: str | None, repository: str | None) -> PullRequest | None:
    """The pull request of a ``pull_request`` / ``pull_request_target`` event payload, else None."""
    env = {k: v for k, v in {"GITHUB_EVENT_PATH": event_path, "GITHUB_REPOSITORY": repository}.items() if v}
    return GitHubEvent.from_env(env).pull_request
