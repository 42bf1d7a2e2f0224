"""The soak, short: 20 apply cycles at 10 % faults of every kind (the late commit included) against the served
emulator, then clean applies. Nothing is duplicated, lost or touched that is not ours, and it converges."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "backend"), [(1, "rest"), (2, "rest"), (1, "sdk"), (2, "sdk")])
def test_a_short_soak_converges_with_nothing_lost_or_duplicated(seed: int, backend: str) -> None:
    """On both backends: through the SDK (the tests' stand-in) too, nothing is made twice or lost."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--cycles", "20", "--seed", str(seed),
                           "--backend", backend, "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["faults_injected"] > 0, "no fault was injected: the soak proved nothing"
    assert (figures["duplicates"], figures["lost"], figures["unowned_touched"], figures["undeclared_left"]) == (
        0, 0, 0, 0), done.stdout
    assert figures["converged"] and figures["applies_to_converge"] <= 3, done.stdout


@pytest.mark.slow
def test_a_short_reconcile_soak_in_concurrent_pairs_never_duplicates_or_loses_what_a_model_came_from() -> None:
    """`reconcile` round after round, two at once, under faults: the lifecycle happens (limits stop runs, the
    chain is created in order, best checkpoints are promoted) and nothing it must never do happens."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "reconcile_soak.py"), "--rounds", "8", "--seed", "2",
                           "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["faults_injected"] > 0 and figures["reconciles_busy"] > 0, done.stdout
    assert figures["converged"] and figures["stops"] > 0 and figures["promotions"] > 0, done.stdout
    assert figures["creates"] >= 2, done.stdout  # the two fine-tunes, once their upstream finished
    for name in ("duplicates", "models_made_twice", "model_checkpoints_deleted", "drift_applied",
                 "retries_beyond_max", "chain_out_of_order", "past_limit_still_running", "sweep_winner_not_best",
                 "sweep_promoted_early"):
        assert figures[name] == 0, (name, done.stdout)
