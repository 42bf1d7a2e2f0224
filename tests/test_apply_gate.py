"""One apply gate, in the library: a plan with an invalid run or a broken team rule is refused by ``apply`` itself,
whoever calls it (the CLI and the Action only say the refusal first), and nothing of it reaches Chariot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chariot_apply.apply.executor import Reporter
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.usecases import applying, planning
from chariot_apply.workspace import project
from tests.factories import manifest, write_manifests


def _plan_and_apply(tmp_path: Path, server: BackgroundServer, *documents: dict[str, object],
                    **options: object) -> tuple[int, BaseException | None]:
    """(how many runs Chariot holds after the apply, what the apply raised)."""
    write_manifests(tmp_path / "runs.yaml", *documents)
    ws = project.open_workspace([str(tmp_path / "runs.yaml")], owner="team-gate", chariot_url=server.url, env={})

    async def go() -> tuple[int, BaseException | None]:
        made = await planning.plan(ws, ws.plan_options(**options))
        raised: BaseException | None = None
        try:
            await applying.apply(ws, made, Reporter(), check_stale=False)
        except applying.PlanRefused as exc:
            raised = exc
        async with ws.client() as client:
            return len([r async for r in client.iter_runs()]), raised

    try:
        return asyncio.run(go())
    finally:
        asyncio.run(ws.close())


def test_the_library_refuses_a_plan_with_an_invalid_run(tmp_path: Path, server: BackgroundServer) -> None:
    """One valid create beside one run whose blueprint does not exist: neither is created."""
    runs, raised = _plan_and_apply(tmp_path, server, manifest("good"), manifest("bad", blueprint="no-such-blueprint"))
    assert isinstance(raised, applying.PlanRefused) and "1 invalid run(s); nothing was applied" in str(raised)
    assert runs == 0


def test_the_library_refuses_a_plan_that_breaks_a_rule(tmp_path: Path, server: BackgroundServer) -> None:
    """A protected run declared absent: the delete breaks spec.protect, and the create beside it waits too."""
    write_manifests(tmp_path / "runs.yaml", manifest("keep", protect=True))
    ws = project.open_workspace([str(tmp_path / "runs.yaml")], owner="team-gate", chariot_url=server.url, env={})

    async def create_it() -> None:
        await applying.apply(ws, await planning.plan(ws, ws.plan_options()), Reporter(), check_stale=False)

    asyncio.run(create_it())
    asyncio.run(ws.close())
    runs, raised = _plan_and_apply(tmp_path, server, manifest("keep", protect=True, state="absent"), manifest("new"))
    assert isinstance(raised, applying.PlanRefused) and "breaks 1 of the team's rules" in str(raised)
    assert runs == 1  # the protected run is still there, and the new one was not made


def test_a_plan_that_passes_the_gate_is_applied(tmp_path: Path, server: BackgroundServer) -> None:
    runs, raised = _plan_and_apply(tmp_path, server, manifest("one"), manifest("two"))
    assert raised is None and runs == 2
