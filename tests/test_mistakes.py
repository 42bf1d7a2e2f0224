"""Every mistake gets an answer (issue 22): a typo gets a did-you-mean, nothing that found nothing says "all is
well", and no error hides another. One test a row of the issue's table: the message, where, and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import create_directly, kept, manifest, write_manifests

WORKFLOW = "name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n" + "".join(
    f"      - run: echo ${{{{ matrix.v{i} }}}}\n" for i in range(10))


def test_a_github_workflow_among_the_manifests_is_skipped_with_one_line(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    (workdir / "runs" / "ci.yml").write_text(WORKFLOW)
    for command in (["plan"], ["validate"], ["render"]):
        result = run_cli(*command)
        assert result.exit_code in (0, 2), (command, result.output)
        assert "is not closed" not in result.output
        assert "skipped 1 YAML file(s) that are not chariot-apply manifests" in result.output, command
        assert "runs/ci.yml" in result.output


def test_a_file_that_is_ours_and_broken_is_an_error_still(workdir: Path) -> None:
    (workdir / "runs" / "a.yaml").write_text("apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: [oops\n")
    result = run_cli("plan")
    assert result.exit_code == 1 and "runs/a.yaml:" in result.stderr


def test_an_empty_manifest_directory_is_an_error_not_all_is_well(workdir: Path) -> None:
    result = run_cli("plan")
    assert result.exit_code == 1, result.output
    assert "no manifests found in" in result.stderr and "No changes" not in result.output


def test_an_unquoted_version_is_explained(workdir: Path) -> None:
    (workdir / "runs" / "a.yaml").write_text(yaml.safe_dump(manifest("a")).replace("version: 1.0.0", "version: 1.10"))
    result = run_cli("validate")
    assert result.exit_code == 1
    assert "runs/a.yaml:" in result.stderr and "YAML reads 1.10 as the number 1.1: quote it" in result.stderr


def test_a_typo_in_the_project_file_is_located_with_a_suggestion(workdir: Path) -> None:
    (workdir / "chariot-apply.yaml").write_text("project: vision\nownr: team\nmanifests: [runs/]\n")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    result = run_cli("validate")
    assert result.exit_code == 1
    assert "chariot-apply.yaml:2:1: unknown key 'ownr' (did you mean 'owner'?)" in result.stderr
    assert "in the project file" in result.stderr and "in the manifests" not in result.stderr


def test_blueprint_and_project_typos_get_a_suggestion(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", blueprint="image-clasifier"),
                    manifest("b", project="visoin"))
    result = run_cli("plan")
    assert result.exit_code == 1
    assert "blueprint 'image-clasifier' with version ILIKE '2.%' does not exist (did you mean 'image-classifier'?)" \
        in result.stdout
    assert "project 'visoin' does not exist" in result.stdout and "did you mean 'vision'?" in result.stdout


def test_lock_upgrade_of_an_unknown_blueprint_is_an_error(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    result = run_cli("lock", "--upgrade", "image-clasifier")
    assert result.exit_code == 1 and "did you mean 'image-classifier'?" in result.stderr
    assert not (workdir / "chariot-apply.lock").exists()


def test_an_unknown_metric_tag_is_an_error_with_the_tags(workdir: Path, server: BackgroundServer,
                                                         clock: object) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(30)  # type: ignore[attr-defined]
    result = run_cli("metrics", "vision/a@1.0.0", "--tag", "train/los")
    assert result.exit_code == 1 and "reports no metric tag 'train/los'" in result.stderr
    assert "did you mean 'train/loss'?" in result.stderr
    assert run_cli("metrics", "vision/a@1.0.0", "--tag", "train/loss").exit_code == 0


def test_an_import_of_nothing_is_an_error(workdir: Path, server: BackgroundServer) -> None:
    create_directly(server, "theirs")
    result = run_cli("import", "--project", "vision", "--name-ilike", "nomatch%", "-o", "runs/imported")
    assert result.exit_code == 1 and "no run in project 'vision' matches" in result.stderr
    assert not (workdir / "runs" / "imported").exists()


def test_export_leaves_the_runs_we_manage_out(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("mine"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    create_directly(server, "theirs")
    exported = run_cli("export", "--project", "vision")
    assert exported.exit_code == 0
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(exported.stdout)]
    assert names == ["theirs"]  # dropping this into runs/ declares nothing twice
    everything = run_cli("export", "--project", "vision", "--include-managed")
    assert sorted(d["metadata"]["name"] for d in yaml.safe_load_all(everything.stdout)) == ["mine", "theirs"]


def test_a_safe_flag_is_never_answered_with_a_destructive_one(workdir: Path) -> None:
    for flag in ("--dry-run", "--dryrun"):
        result = run_cli("apply", flag)
        assert result.exit_code == 2
        assert "chariot-apply plan" in result.stderr and "--prune" not in result.stderr
    assert "Did you mean '--prune'?" in run_cli("plan", "--prun").stderr  # a plain typo of it still is


def test_the_json_plan_of_a_typo_is_invalid_too(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", blueprint="image-clasifier"))
    document = json.loads(run_cli("plan", "--format", "json").stdout)
    assert document["counts"]["invalid"] == 1


LENIENT = {"type": "object", "required": ["dataset_id"],  # as pydantic makes it: no additionalProperties: false
           "properties": {"dataset_id": {"type": "string"}, "learning_rate": {"type": "number", "default": 0.001},
                          "epochs": {"type": "integer", "default": 3}}}


def test_a_config_key_typo_is_said_at_its_line_with_a_suggestion(workdir: Path, store: object) -> None:
    from chariot_apply.emulator.catalog import BlueprintSeed, Catalog

    store.seed(Catalog(blueprints=[BlueprintSeed(name="lenient", version="1.0.0",  # type: ignore[attr-defined]
                                                 task_types=["Other"], config_schema=LENIENT)]))
    path = write_manifests(workdir / "runs" / "a.yaml",
                           manifest("a", blueprint="lenient", blueprint_version=None, taskType="Other",
                                    config={"dataset_id": "d", "learing_rate": 0.1}))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "learing_rate" in text)
    lenient = run_cli("plan")
    assert lenient.exit_code == 0, lenient.output  # the schema lets it pass: a warning, not an error
    assert f"runs/a.yaml:{line}:" in lenient.stdout and "did you mean 'learning_rate'?" in lenient.stdout
    assert "would train without it" in lenient.stdout
    strict = run_cli("plan", "--strict-config")
    assert strict.exit_code == 1 and f"runs/a.yaml:{line}:" in strict.stdout
    (workdir / "chariot-apply.yaml").write_text("owner: team-test\nproject: vision\nmanifests: [runs/]\n"
                                                "strictConfig: true\n")
    assert run_cli("plan").exit_code == 1


def test_a_config_key_typo_where_the_schema_forbids_extras_is_one_located_error(workdir: Path) -> None:
    path = write_manifests(workdir / "runs" / "a.yaml",
                           manifest("a", config={"dataset_id": "d", "epochs": "many", "learing_rate": 0.1}))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "learing_rate" in text)
    result = run_cli("plan")
    assert result.exit_code == 1
    assert f"runs/a.yaml:{line}:" in result.stdout and "did you mean 'learning_rate'?" in result.stdout
    assert "Additional properties" not in result.stdout  # ours says it better, at the key's own line
    assert "epochs" in result.stdout  # and hides no other error


def test_a_variable_of_the_wrong_type_is_a_located_error_naming_it(workdir: Path, server: BackgroundServer) -> None:
    """`--var EPOCHS=abc` where the blueprint wants an integer: was "6 blocked replaces 10 -> 'abc'"."""
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config={"dataset_id": "d", "epochs": "${EPOCHS}"}))
    assert run_cli("--var", "EPOCHS=10", "apply", "--auto-approve").exit_code == 0
    result = run_cli("--var", "EPOCHS=abc", "plan")
    assert result.exit_code == 1, result.output
    assert "spec.config.epochs" in result.stdout and "(the value of ${EPOCHS})" in result.stdout
    assert "replacing is not allowed" not in result.stdout


def test_without_a_project_file_it_says_where_it_writes(tmp_path: Path, monkeypatch: object) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[attr-defined]
    monkeypatch.delenv("CHARIOT_URL", raising=False)  # type: ignore[attr-defined]
    write_manifests(tmp_path / "runs" / "a.yaml", manifest("a"))
    result = run_cli("--owner", "me", "plan", "-f", "runs/")
    assert f"no chariot-apply.yaml here or above: the lock file (chariot-apply.lock) and the embedded emulator's " \
           f"state (.chariot-apply/) are written in {tmp_path}" in result.stderr.replace("\n", " ")


def test_an_unknown_field_hides_no_other_error(workdir: Path) -> None:
    text = yaml.safe_dump(manifest("a", state="runing"))
    (workdir / "runs" / "a.yaml").write_text(text.replace("resources:", "resourcez: {cpu: '1'}\n  resources:"))
    result = run_cli("validate")
    assert result.exit_code == 1
    assert "unknown field 'resourcez' (did you mean 'resources'?)" in result.stderr
    assert "'runing' is not one of" in result.stderr


def test_a_defaults_value_every_run_overrides_is_still_reported(workdir: Path) -> None:
    defaults = {"apiVersion": "chariot-apply/v1", "kind": "RunDefaults", "metadata": {"name": "shared"},
                "spec": {"template": {"resources": {"cpu": "1", "memory": "1GB"}, "notse": "x"}}}
    write_manifests(workdir / "runs" / "a.yaml", defaults, manifest("a"))  # "a" sets its own memory
    result = run_cli("validate")
    assert result.exit_code == 1, result.output
    assert "spec.template.resources.memory" in result.stderr and "runs/a.yaml:" in result.stderr
    assert "'notse'" in result.stderr and "notes" in result.stderr  # the misspelt key too, at once


def test_a_mistake_in_a_sweeps_template_is_said_once_naming_the_points(workdir: Path) -> None:
    template = manifest("t", resources_={"cpu": "lots", "memory": "1Gi"})["spec"]
    sweep = {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
             "metadata": {"name": "lr", "version": "1"},
             "spec": {"template": template, "matrix": {"grid": {"config.learning_rate": [0.1, 0.01, 0.001, 0.0001]}}}}
    write_manifests(workdir / "runs" / "s.yaml", sweep)
    result = run_cli("validate")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "resources.cpu" in line]
    assert len(lines) == 1 and "runs/s.yaml:" in lines[0], result.stderr  # once, at the template's line


def test_a_mistake_every_point_of_a_sweep_shares_is_said_once_naming_them(workdir: Path) -> None:
    """A grid value every point takes (here a bad quantity): one problem at the grid's line, naming the points."""
    sweep = {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
             "metadata": {"name": "lr", "version": "1"},
             "spec": {"template": manifest("t")["spec"],
                      "matrix": {"grid": {"config.learning_rate": [0.1, 0.01, 0.001, 0.0001],
                                          "resources.cpu": ["lots"]}}}}
    write_manifests(workdir / "runs" / "s.yaml", sweep)
    result = run_cli("validate")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "resources.cpu" in line]
    assert len(lines) == 1 and "sweep points" in lines[0] and lines[0].count("-cpulots") == 4, result.stderr


def test_addresses_complete_from_the_manifests(workdir: Path) -> None:
    """bash/zsh/fish completion of `events`/`metrics` ADDRESS and `--target`: the declared addresses, offline."""
    import os
    import subprocess
    import sys

    write_manifests(workdir / "runs" / "a.yaml", manifest("alpha"), manifest("alpine"), manifest("beta"))
    env = {k: v for k, v in os.environ.items() if kept(k)} | {
        "_CHARIOT_APPLY_COMPLETE": "bash_complete", "CHARIOT_URL": "http://127.0.0.1:9"}  # never asked
    for words, cword in (("chariot-apply events vision/al", "2"), ("chariot-apply plan --target vision/al", "3")):
        done = subprocess.run([sys.executable, "-c", "from chariot_apply.cli.main import cli; "
                               "cli(prog_name='chariot-apply')"], cwd=workdir, capture_output=True, text=True,
                              env=env | {"COMP_WORDS": words, "COMP_CWORD": cword}, timeout=60)
        assert done.stdout.split() == ["plain,vision/alpha@1.0.0", "plain,vision/alpine@1.0.0"], done


def test_a_config_key_typo_in_a_sweep_template_is_said_once_with_every_point(workdir: Path) -> None:
    template = manifest("t", config={"dataset_id": "d", "learing_rate": 0.1})["spec"]
    sweep = {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep", "metadata": {"name": "lr", "version": "1"},
             "spec": {"template": template, "matrix": {"grid": {"config.epochs": [1, 2, 3, 4]}}}}
    write_manifests(workdir / "runs" / "s.yaml", sweep)
    assert run_cli("plan").exit_code == 0  # the schema allows other keys: a warning, unless --strict-config
    result = run_cli("plan", "--strict-config")
    assert result.exit_code == 1
    said = [line for line in result.stdout.splitlines() if "learing_rate" in line]
    assert len(said) == 1 and "did you mean 'learning_rate'?" in said[0], result.stdout
    assert "4 runs (vision/lr-" in result.stdout


def test_a_kind_that_is_not_text_is_an_error_not_a_crash(workdir: Path) -> None:
    """Found by the manifest fuzz in CI: `kind: []` made the foreign-file check raise "unhashable type"."""
    (workdir / "runs" / "a.yaml").write_text("kind: []\nmetadata: {name: a}\n")  # no apiVersion either
    result = run_cli("validate")
    assert result.exit_code == 1 and "no manifests found" in result.stderr and "1 other YAML file(s)" in result.stderr
