"""Results where the review happened: `chariot-apply report` (text, markdown with Mermaid charts and a text
fallback, JSON, HTML) and the Action's results comment on the pull request whose merge created the runs."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chariot_apply.chariot.models import Metric, Run
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.github.pull_request import results_marker
from chariot_apply.manifest.model import SweepOrigin
from chariot_apply.render.report import render_report_markdown, sparkline
from chariot_apply.render.report_html import render_report_html
from chariot_apply.reports.results import build_report
from tests.action_harness import OPENED, _repository, chariot_inputs, merged
from tests.action_harness import ActionRunner as Runner
from tests.cli_helpers import run_cli
from tests.factories import START, classifier_config, live_runs, manifest, write_manifests
from tests.github_fake import FakeGitHub
from tests.plan_factories import declared

RATES = [0.0001, 0.0003, 0.001, 0.003, 0.3]  # the last diverges


def lr_sweep(epochs: int = 3) -> dict[str, Any]:
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
            "metadata": {"name": "lr", "version": "1", "project": "vision"},
            "spec": {"template": {"blueprint": {"name": "image-classifier", "version": "2.%"},
                                  "resources": {"cpu": "1", "memory": "1Gi"},
                                  "config": classifier_config(epochs=epochs),
                                  "checkpoints": {"keep": {"best": {"metric": "val/loss", "count": 1}}}},
                     "matrix": {"grid": {"config.learning_rate": RATES}},
                     "promote": [{"model": {"name": "detector", "version": "1.3.0"},  # the sweep's winner
                                  "checkpoint": {"select": "best", "metric": "val/loss"}}]}}


def baseline() -> dict[str, Any]:
    return manifest("baseline", config=classifier_config(epochs=3), promote=[
        {"model": {"name": "classifier", "version": "1.3.0"}, "checkpoint": {"select": "best", "metric": "val/loss"}}])


# ------------------------------------------------------------------------------------------------ Mermaid, parsed

XYCHART = re.compile(r"```mermaid\n(xychart-beta\n.*?)```", re.S)


def parse_xychart(block: str) -> dict[str, Any]:
    """The ``xychart-beta`` grammar we emit: title, a numeric x axis (Mermaid spaces its ticks: no labels that run
    together), a ranged y axis, lines of numbers. Raises on anything else, so that a chart that would not render
    fails here."""
    lines = block.strip().splitlines()
    assert lines[0] == "xychart-beta", lines[0]
    chart: dict[str, Any] = {"lines": []}
    number = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
    for line in lines[1:]:
        text = line.strip()
        if m := re.fullmatch(r'title "([^"]*)"', text):
            chart["title"] = m[1]
        elif m := re.fullmatch(rf'x-axis "([^"]*)" ({number}) --> ({number})', text):
            chart["x"] = (float(m[2]), float(m[3]))
            assert chart["x"][0] < chart["x"][1], "an empty x range"
        elif m := re.fullmatch(rf'y-axis "([^"]*)" ({number}) --> ({number})', text):
            chart["y"] = (m[1], float(m[2]), float(m[3]))
            assert chart["y"][1] < chart["y"][2], "an empty y range"
        elif m := re.fullmatch(rf"line \[((?:{number})(?:, {number})*)\]", text):
            chart["lines"].append([float(v) for v in m[1].split(", ")])
        else:
            raise AssertionError(f"not in the grammar: {text!r}")
    assert chart["lines"] and all(2 <= len(values) <= 50 for values in chart["lines"])
    assert all(math.isfinite(v) for values in chart["lines"] for v in values)
    return chart


# ------------------------------------------------------------------------------------------------ through the Action

def test_a_sweep_applied_through_the_action_gets_one_results_comment_on_its_pull_request(
        repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub, clock: ManualClock) -> None:
    write_manifests(repo / "training" / "runs" / "sweep.yaml", lr_sweep(), baseline())
    assert runner.run(repo, chariot_inputs(server), OPENED).returncode == 0  # the plan comment: the review
    done = runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                      event_name="push")
    assert done.returncode == 0, done.log
    number = json.loads(OPENED.read_text())["pull_request"]["number"]
    assert all(f"pr={number}" in (r.notes or "") for r in live_runs(server))
    clock.advance(START + 40)  # every point has finished (30 steps), the diverged one long before
    schedule = runner.tmp / "schedule.json"
    schedule.write_text(json.dumps({"repository": json.loads(OPENED.read_text())["repository"]}))
    cron = runner.run(repo, chariot_inputs(server, command="reconcile", report="true"), schedule,
                      event_name="schedule")
    assert cron.returncode == 0, cron.log
    assert f"results comment on #{number}: created" in cron.log
    (comment,) = [c for c in github.thread(_repository(OPENED), number) if c["body"].startswith(results_marker(
        "127.0.0.1"))]
    body = comment["body"]
    board = re.findall(r"^\| (\d+) \| `([^`]+)` \| learning_rate=([0-9.e-]+) \| ([0-9.-]+) \|", body, re.M)
    assert [int(rank) for rank, *_ in board] == [1, 2, 3, 4, 5]
    scores = [float(score) for *_, score in board if score != "-"]
    assert scores == sorted(scores) and len(scores) == 4, body  # ranked by val/loss, lowest first
    assert board[-1][2] == "0.3" and "training diverged" in body  # the diverged point: last, with why
    charts = [parse_xychart(block) for block in XYCHART.findall(body)]
    assert 1 <= len(charts) <= 4 and charts[0]["y"][0] == "val/loss" and charts[0]["x"][0] >= 0
    assert "<details><summary>Curves as text</summary>" in body and re.search(r"val/loss +[▁▂▃▄▅▆▇█]+ +first", body)
    assert "**classifier@1.3.0** ← checkpoint step 30 of `vision/baseline@1.0.0`" in body
    assert re.search(rf"\*\*detector@1\.3\.0\*\* ← checkpoint step \d+ of `{re.escape(board[0][1])}`", body), body
    again = runner.run(repo, chariot_inputs(server, command="report"), schedule, event_name="schedule")
    assert again.returncode == 0 and f"results comment on #{number}: unchanged" in again.log
    assert [c["body"] for c in github.thread(_repository(OPENED), number) if c["id"] == comment["id"]] == [body]


# ------------------------------------------------------------------------------------------------ the command

def test_report_formats_on_the_emulator(workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "sweep.yaml", lr_sweep())
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 40)
    text = run_cli("report")
    assert text.exit_code == 0
    assert "sweep vision/lr: ranked by val/loss (min: each run's best value ranks it" in text.stdout
    document = json.loads(run_cli("report", "--format", "json").stdout)
    (sweep,) = document["sweeps"]
    assert [p["params"]["learning_rate"] for p in sweep["points"]][-1] == 0.3 and sweep["best"]
    ranked = run_cli("report", "--format", "json", "--rank-by", "val/accuracy:max")
    points = json.loads(ranked.stdout)["sweeps"][0]["points"]
    assert json.loads(ranked.stdout)["sweeps"][0]["metric"] == "val/accuracy"
    scores = [p["score"] for p in points if p["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    html = workdir / "report.html"
    assert run_cli("report", "--format", "html", "--out", str(html)).exit_code == 0
    page = html.read_text()
    assert not re.search(r"<script|<link|<img|src=|url\(", page)  # self-contained: nothing fetched, nothing run
    assert re.search(r'<svg [^>]*data-tag="val/loss" data-points="\d+"', page)
    missing = run_cli("report", "--target", "vision/nothing*")
    assert missing.exit_code == 1 and "matches no declared run" in missing.stderr


def _runs_and_metrics(n: int) -> tuple[list[Any], dict[int, str], dict[str, Run], dict[str, list[Metric]]]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    runs, addresses, live, metrics = [], {}, {}, {}
    for i in range(n):
        run = declared(f"p{i:04d}", config={"epochs": 1, "dataset_id": "ds-1", "learning_rate": 0.0001 * (i + 1)})
        run = type(run)(run.manifest.model_copy(update={"metadata": run.manifest.metadata.model_copy(update={
            "sweep": SweepOrigin(name="big", point=f"p{i}")})}), run.project, run.location, run.field_locations)
        runs.append(run)
        addr = f"vision/p{i:04d}@1.0.0"
        addresses[i] = addr
        live[addr] = Run(id=f"r{i}", name=run.name, version="1.0.0", status="job_completed", created_at=now,
                         status_updated_at=now + timedelta(minutes=5))
        metrics[f"r{i}"] = [Metric(id=f"m{i}-{s}", run_id=f"r{i}", created_at=now, global_step=s, tag="val/loss",
                                   value=1.0 / (s + i)) for s in range(1, 200)]
    return runs, addresses, live, metrics


def test_two_thousand_runs_stay_within_the_comment_limit_summary_and_leaderboard_first() -> None:
    runs, addresses, live, metrics = _runs_and_metrics(2000)
    report = build_report("team", runs, addresses, live, metrics, {}, [], datetime(2026, 1, 2, tzinfo=UTC))
    limit = 65_536 - 500
    text = render_report_markdown(report, limit=limit)
    assert len(text) <= limit and "cut to fit" in text
    assert text.index("**2000 run(s)") < text.index("#### Sweep") and "| 1 | `vision/p1999@1.0.0`" in text
    assert render_report_markdown(report) != text  # whole, it is longer than a comment


def test_curves_are_downsampled_and_the_sparkline_follows_the_values() -> None:
    runs, addresses, live, metrics = _runs_and_metrics(1)
    report = build_report("team", runs[:1], addresses, live, metrics, {}, [], datetime(2026, 1, 2, tzinfo=UTC))
    (curve,) = report.sweeps[0].curves  # of its best point (here its only one)
    assert len(curve.steps) == 50 and curve.steps[0] == 1 and curve.steps[-1] == 199
    assert curve.best == curve.last == pytest.approx(1 / 199) and curve.first == 1.0
    assert sparkline([0.0, 0.5, 1.0, None]) == "▁▅█ " and sparkline([]) == ""
    assert "<svg" in render_report_html(report)


@pytest.mark.browser
def test_the_html_report_shows_its_charts_in_a_headless_browser(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium here (Debian: apt install chromium)")
    runs, addresses, live, metrics = _runs_and_metrics(3)
    page = tmp_path / "report.html"
    page.write_text(render_report_html(build_report("team", runs, addresses, live, metrics, {}, [],
                                                    datetime(2026, 1, 2, tzinfo=UTC))))
    shot = tmp_path / "shot.png"
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and 'data-tag="val/loss"' in dom.stdout and "<polyline" in dom.stdout
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1000,900", page.as_uri()], capture_output=True, timeout=120, check=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_status_groups_a_sweeps_points_and_its_state_stops_them_all(workdir: Path, server: BackgroundServer,
                                                                     clock: ManualClock) -> None:
    path = workdir / "runs" / "sweep.yaml"
    write_manifests(path, lr_sweep(epochs=30))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 25)  # the diverged point has failed; the others train, past their first epochs
    status = run_cli("status")
    line = next(line for line in status.stdout.splitlines() if line.startswith("sweep vision/lr:"))
    assert line.startswith("sweep vision/lr: 1 of 5 finished (20 %); best so far vision/lr-lr") and "val/loss" in line
    document = json.loads(run_cli("status", "--format", "json").stdout)
    (sweep,) = document["sweeps"]
    assert sweep["points"] == 5 and sweep["metric"] == "val/loss" and sweep["best"]
    stopped = lr_sweep(epochs=30)
    stopped["spec"]["state"] = "stopped"
    write_manifests(path, stopped)
    plan = run_cli("plan")
    assert "Plan: 0 to create, 0 to replace, 4 to stop" in plan.stdout, plan.stdout
    assert run_cli("apply", "--auto-approve").exit_code == 0
    assert {r.status for r in live_runs(server)} <= {"run_stop_requested", "job_failed"}


def test_a_chart_of_fifty_points_has_a_numeric_step_axis_and_labels_clear_of_the_axes() -> None:
    """Issue 37: a 50-point chart's step labels ran together; the HTML's lower y label sat on the axis."""
    from chariot_apply.render.report import mermaid
    from chariot_apply.render.report_html import LEFT, svg
    from chariot_apply.reports.results import Curve

    steps = list(range(10, 510, 10))  # 50 logged steps
    values = [2.0 - 0.003 * s for s in steps]  # a straight line: resampling must keep it straight
    curve = Curve(tag="train/loss", steps=tuple(steps), values=tuple(values), first=values[0], best=values[-1],
                  last=values[-1], mode="min")
    chart = parse_xychart(XYCHART.findall(mermaid(curve, "train/loss"))[0])
    assert chart["x"] == (10.0, 500.0)
    (line,) = chart["lines"]
    expected = [2.0 - 0.003 * (10 + 490 * i / (len(line) - 1)) for i in range(len(line))]
    assert all(abs(a - b) < 1e-5 for a, b in zip(line, expected, strict=True))
    drawn = svg(curve)
    labels = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="end">([^<]+)</text>', drawn)
    y_labels = [(float(x), float(y)) for x, y, text in labels if text in ("0.5", "1.97")]
    assert len(y_labels) == 2 and all(x < LEFT for x, _ in y_labels)  # left of the y axis, never on it
