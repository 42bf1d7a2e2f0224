"""A command holds one Chariot client from its first request to its end: `status --watch` polls for hours over
the connections it opened first, and `apply --wait` plans, applies and waits with one client."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.usecases import watching
from chariot_apply.workspace import project as project
from tests.factories import manifest, write_manifests


def test_every_call_of_a_command_shares_one_client_until_it_closes(tmp_path: Path, server: BackgroundServer) -> None:
    write_manifests(tmp_path / "runs.yaml", manifest("alpha"))
    ws = project.open_workspace([str(tmp_path / "runs.yaml")], owner="team-test", chariot_url=server.url, env={})
    seen = []

    async def poll() -> None:
        for _ in range(3):
            await watching.status(ws, ["vision"])
            async with ws.client() as client:
                seen.append(client)

    asyncio.run(poll())
    asyncio.run(poll())  # a second event loop, as the CLI's next phase runs in
    assert len(set(map(id, seen))) == 1
    asyncio.run(ws.close())

    async def again() -> None:
        async with ws.client() as client:
            seen.append(client)

    asyncio.run(again())
    assert seen[-1] is not seen[0]  # closed: the next use makes a new one
    asyncio.run(ws.close())
