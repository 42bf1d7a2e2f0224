"""The same client over a real socket: uvicorn on 127.0.0.1, real drops, the sync facade."""

from __future__ import annotations

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.backends.rest.sync import ChariotClient
from chariot_apply.chariot.errors import RunDoesNotExistError, ValidationError, WriteOutcomeUnknownError
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import Faults
from chariot_apply.emulator.server import BackgroundServer
from tests.factories import classifier_config, new_run, resources


@pytest.mark.anyio
async def test_round_trip_over_http(http_client: AsyncChariotClient, clock: ManualClock) -> None:
    run_id = await new_run(http_client, "over-the-wire")
    clock.advance(60)
    run = await http_client.get_run(run_id)
    assert run.status == "job_completed"
    with pytest.raises(ValidationError):
        await new_run(http_client, config={"epochs": -1})
    await http_client.delete_run(run_id)
    with pytest.raises(RunDoesNotExistError):
        await http_client.get_run(run_id)


@pytest.mark.anyio
async def test_a_real_dropped_connection(http_client: AsyncChariotClient, faults: Faults) -> None:
    faults.script("drop", "GET", "/runs")
    assert await http_client.get_runs() == []  # retried
    faults.script("commit-then-drop", "POST", "/runs")
    with pytest.raises(WriteOutcomeUnknownError):
        await new_run(http_client, "lost-answer")
    assert [r.name for r in await http_client.get_runs()] == ["lost-answer"]


def test_sync_facade(server: BackgroundServer) -> None:
    with ChariotClient(AsyncChariotClient(server.url)) as chariot:
        blueprint_id = chariot.lookup_blueprint_id("image-classifier", "1.%")
        run_id = chariot.create_run(name="sync", version="1", resources=resources(), config=classifier_config(),
                                    task_type="Image Classification", blueprint_id=blueprint_id,
                                    project_id=chariot.get_project_id("default"))
        assert [r.id for r in chariot.get_runs(name_ilikes=["SYNC"])] == [run_id]
        assert [r.id for r in chariot.iter_runs(page_size=1)] == [run_id]
        assert chariot.base_url == server.url


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_the_served_emulator_answers_without_nagle_delays(host: str) -> None:
    """Connections accepted on the emulator's socket have TCP_NODELAY (asyncio sets it only on sockets that say
    they are TCP): without it, each small answer waited ~40 ms for the client's delayed ACK."""
    import asyncio
    import socket

    from chariot_apply.emulator.server import listening_socket

    try:
        listener = listening_socket(host, 0)
    except OSError:
        pytest.skip(f"{host} is not available here")
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connection, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        assert await asyncio.wait_for(accepted, timeout=10) != 0
        writer.close()
