"""Issue 38: a champion to beat. `promote` made a model whatever it was worth; with `require.betterThan` the
chosen checkpoint's value is judged against the champion's (the value of the run its model was made from, at the
checkpoint it was made from): a worse one is blocked with both numbers, a better one promoted with both."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.training import FAMILIES
from tests.cli_helpers import run_cli
from tests.factories import START, classifier_config, manifest, write_manifests

USUAL = FAMILIES["classification"].usual_rate


def candidate(name: str, rate: float, version: str, require: dict[str, Any] | None = None) -> dict[str, Any]:
    promotion: dict[str, Any] = {"model": {"name": "classifier", "version": version},
                                 "checkpoint": {"select": "best", "metric": "val/loss"}}
    if require is not None:
        promotion["require"] = require
    return manifest(name, config=classifier_config(epochs=3, learning_rate=rate), promote=[promotion])


def values(server: BackgroundServer) -> dict[str, float]:
    """The val/loss of the checkpoint each model was made from, read around the client under test."""
    async def read() -> dict[str, float]:
        async with AsyncChariotClient(server.url) as client:
            found = {}
            for model in await client.get_models():
                (checkpoint,) = await client.get_checkpoints(ids=[model.checkpoint_id], limit=1)
                metrics = await client.get_all_metrics(checkpoint.run_id or "")
                found[model.version] = next(float(m.value) for m in metrics if m.tag == "val/loss"
                                            and m.global_step == checkpoint.global_step and m.value is not None)
            return found
    return asyncio.run(read())


def test_a_better_than_gate_blocks_a_worse_model_and_promotes_a_better_one(workdir: Path, server: BackgroundServer,
                                                                          clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "a.yaml", candidate("champion", USUAL / 10, "1.0.0"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 60)
    assert [o["kind"] for o in json.loads(run_cli("reconcile", "--format", "json").stdout)["done"]] == ["promote"]
    champion = values(server)["1.0.0"]
    gate = {"betterThan": {"model": "classifier@1.0.0", "by": 2}}
    write_manifests(workdir / "runs" / "a.yaml", candidate("champion", USUAL / 10, "1.0.0"),
                    candidate("better", USUAL, "2.0.0", gate), candidate("worse", USUAL / 100, "3.0.0", gate))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 60)
    text = run_cli("plan").stdout
    assert f"does not beat champion classifier@1.0.0's {champion:.4g} by 2 %" in text, text
    assert "promote classifier@3.0.0 blocked" in text
    done = json.loads(run_cli("reconcile", "--format", "json").stdout)["done"]
    assert [(o["kind"], o["address"]) for o in done] == [("promote", "vision/better@1.0.0")], done
    made = values(server)
    assert set(made) == {"1.0.0", "2.0.0"} and made["2.0.0"] < champion * 0.98  # the gate held, by its numbers
    gain = (champion - made["2.0.0"]) / champion * 100
    assert f"< champion classifier@1.0.0's {champion:.4g}, {gain:.1f} % better" in text, text


def test_a_threshold_gate_and_an_unknown_champion_block(workdir: Path, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "a.yaml",
                    candidate("strict", USUAL, "1.0.0", {"below": 0.0001}),
                    candidate("orphan", USUAL, "2.0.0", {"betterThan": {"model": "nothing@9"}}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 60)
    text = run_cli("plan").stdout
    assert "val/loss" in text and "is not < 0.0001 (require.below)" in text, text
    assert "the champion nothing@9 has no known value of val/loss" in text
    assert json.loads(run_cli("reconcile", "--format", "json").stdout)["done"] == []
