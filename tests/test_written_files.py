"""Nothing chariot-apply writes lands outside the folder it was given, and nothing it writes is a manifest its own
validator would refuse (issue 18): server-side names are input like any other."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chariot_apply.emulator.catalog import Catalog, ProjectSeed
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, create_directly, manifest, write_manifests

HOSTILE_PROJECT = "../../escape"


@pytest.fixture
def hostile(store: EmulatorStore) -> EmulatorStore:
    store.seed(Catalog(projects=[ProjectSeed(name=HOSTILE_PROJECT)]))
    return store


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", ["export", "import"])
def test_a_project_name_never_leads_outside_the_output_folder(command: str, hostile: EmulatorStore, workdir: Path,
                                                              server: BackgroundServer) -> None:
    create_directly(server, "theirs", project=HOSTILE_PROJECT)
    before = files_under(workdir.parent)
    out = workdir / "runs" / "imported"
    result = run_cli(command, "--project", HOSTILE_PROJECT, "-o", str(out))
    assert result.exit_code == 0, result.output
    new = files_under(workdir.parent) - before - {workdir / "chariot-apply.yaml"}
    assert new and all(p.is_relative_to(out) for p in new), new
    [written] = [p for p in new if p.suffix == ".yaml"]
    assert "/" not in written.name and not written.name.startswith(".")
    assert yaml.safe_load(written.read_text())["metadata"]["project"] == HOSTILE_PROJECT  # the name itself is kept


def test_two_projects_that_clean_to_one_file_name_stay_apart(store: EmulatorStore, workdir: Path,
                                                              server: BackgroundServer) -> None:
    store.seed(Catalog(projects=[ProjectSeed(name="a/b"), ProjectSeed(name="a_b")]))
    for project in ("a/b", "a_b"):
        create_directly(server, "theirs", project=project)
        assert run_cli("export", "--project", project, "-o", "out").exit_code == 0
    assert len(list((workdir / "out").glob("*.yaml"))) == 2


def test_export_never_writes_through_a_symlink(workdir: Path, server: BackgroundServer) -> None:
    create_directly(server, "theirs")
    outside = workdir.parent / "outside.yaml"
    (workdir / "out").mkdir()
    (workdir / "out" / "vision.yaml").symlink_to(outside)
    result = run_cli("export", "--project", "vision", "-o", "out")
    assert result.exit_code == 1 and "symlink" in result.stderr and "Traceback" not in result.output
    assert not outside.exists()


@pytest.mark.parametrize(("name", "refused"), [("two\nlines", False), ("x" * 1000, True), ("a/b@c", False)])
def test_a_run_whose_manifest_would_be_refused_is_skipped_and_the_folder_still_plans(
        name: str, refused: bool, workdir: Path, server: BackgroundServer) -> None:
    create_directly(server, name)
    create_directly(server, "fine")
    imported = run_cli("import", "--project", "vision", "-o", "runs/imported")
    assert imported.exit_code == 0, imported.output
    assert ("would be refused" in imported.stderr) is refused
    assert f"adopted {1 if refused else 2}" in imported.stdout
    assert "\n" not in imported.stderr.rstrip("\n")  # a server's name never breaks a line of output
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output


def test_import_into_a_folder_the_plan_does_not_read_is_refused_before_adopting(workdir: Path,
                                                                                  server: BackgroundServer) -> None:
    """Adopted but declared where no plan looks: --prune would delete the run it was told to adopt."""
    create_directly(server, "theirs")
    result = run_cli("import", "--project", "vision", "-o", "elsewhere")
    assert result.exit_code == 1 and "elsewhere" in result.stderr and "manifests" in result.stderr
    assert "adopted" not in (workdir / "chariot-apply.yaml").read_text()
    assert not (workdir / "elsewhere").exists()
    write_manifests(workdir / "runs" / "mine.yaml", manifest("mine"))
    assert "0 to delete" in run_cli("plan", "--prune").stdout


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\x80", b"[" * 100_000, b"a: " + b"x" * (2 << 20)],
                         ids=["bytes", "nesting", "huge"])
def test_a_broken_lock_file_is_an_error_not_a_crash(content: bytes, workdir: Path) -> None:
    write_manifests(workdir / "runs" / "mine.yaml", manifest("mine"))
    (workdir / "chariot-apply.lock").write_bytes(content)
    result = run_cli("plan")
    assert result.exit_code == 1, result.output
    assert "chariot-apply.lock is not a chariot-apply lock file" in result.stderr and "Traceback" not in result.output


def test_a_lock_file_that_is_a_dangling_symlink_is_not_written_through(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "mine.yaml", manifest("mine"))
    outside = workdir.parent / "outside.lock"
    (workdir / "chariot-apply.lock").symlink_to(outside)
    result = run_cli("lock")
    assert result.exit_code == 1 and "symlink" in result.stderr, result.output
    assert not outside.exists()
    run_cli("plan")
    assert not outside.exists()


def test_text_that_looks_like_a_variable_comes_back_unchanged(workdir: Path, server: BackgroundServer) -> None:
    """Another tool's run whose name, config and notes hold ``${...}``: imported, then planned: no changes."""
    config = classifier_config(dataset_id="${HOME}/data $${literal}")
    create_directly(server, "a${b}", config=config, notes="uses ${TOKEN} and ${")
    imported = run_cli("import", "--project", "vision", "-o", "runs/imported")
    assert imported.exit_code == 0 and "adopted 1" in imported.stdout, imported.output
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
