"""Manifests: every problem in every file, at once, each with file:line:column and the field path."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chariot_apply.diagnostics.errors import UserError
from chariot_apply.manifest.errors import ManifestError
from chariot_apply.manifest.loader import load_manifests, manifest_schema
from chariot_apply.manifest.model import TrainingRun
from chariot_apply.manifest.project_file import load_project_file
from chariot_apply.workspace.project import open_workspace
from tests.cli_helpers import run_cli
from tests.factories import manifest, write_manifests

ROOT = Path(__file__).resolve().parents[1]

BAD_FILES = {
    "syntax.yaml": "apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: {name: x, version: 1\n",
    "dupkey.yaml": """apiVersion: chariot-apply/v1
kind: TrainingRun
metadata: {name: dup, version: "1"}
spec:
  blueprint: {name: image-classifier}
  resources: {cpu: "1", memory: 1Gi}
  state: running
  state: stopped
""",
    "unknown.yaml": """apiVersion: chariot-apply/v1
kind: TrainingRun
metadata: {name: unknown, version: "1"}
spec:
  blueprint: {name: image-classifier}
  resources: {cpu: "1", memory: 1Gi}
  taskTyp: Image Classification
""",
    "types.yaml": """apiVersion: chariot-apply/v1
kind: TrainingRun
metadata: {name: types, version: "1"}
spec:
  blueprint: {name: image-classifier}
  resources: {cpu: "1", memory: 1Gi, gpu: {count: two, type: A100}}
  config: [1, 2]
""",
    "quantity.yaml": """apiVersion: chariot-apply/v1
kind: TrainingRun
metadata: {name: quantity, version: "1"}
spec:
  blueprint: {name: image-classifier}
  resources:
    cpu: four
    memory: 0Gi
    ephemeralStorage: 1mi
""",
    "twice.yaml": """apiVersion: chariot-apply/v1
kind: TrainingRun
metadata: {name: same, version: "1", project: vision}
spec: {blueprint: {name: image-classifier}, resources: {cpu: "1", memory: 1Gi}}
---
apiVersion: chariot-apply/v1
kind: TrainingRun
metadata: {name: same, version: "1", project: vision}
spec: {blueprint: {name: image-classifier}, resources: {cpu: "2", memory: 1Gi}}
""",
}

EXPECTED = [  # (file, line, path and message fragment, hint fragment)
    ("syntax.yaml", 4, "invalid YAML", "indentation"),
    ("dupkey.yaml", 8, "spec.state: duplicate key 'state' (first at line 7)", "keeps only the last"),
    ("unknown.yaml", 7, "spec.taskTyp: unknown field 'taskTyp'", "did you mean 'taskType'?"),
    ("types.yaml", 6, "spec.resources.gpu.count: 'two' is not of type 'integer'", ""),
    ("types.yaml", 7, "spec.config: [1, 2] is not of type 'object'", ""),
    ("quantity.yaml", 7, "spec.resources.cpu: 'four' is not a positive Kubernetes quantity", "16Gi"),
    ("quantity.yaml", 8, "spec.resources.memory: '0Gi' is not a positive Kubernetes quantity", ""),
    ("quantity.yaml", 9, "spec.resources.ephemeralStorage: unable to parse quantity's suffix 'mi'", ""),
    ("twice.yaml", 6, "run vision/same@1 is already declared at", "declared once"),
]


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_every_problem_in_every_file_is_reported_at_once(bad_dir: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifests([bad_dir], "default")
    rendered = [str(p) for p in info.value.problems]
    for file, line, fragment, hint in EXPECTED:
        matching = [r for r in rendered if r.startswith(f"{bad_dir / file}:{line}:") and fragment in r]
        assert matching, (file, line, fragment, rendered)
        assert hint in matching[0]
    assert len(rendered) == len(EXPECTED)


def test_the_cli_reports_them_without_a_traceback(bad_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(bad_dir)
    result = run_cli("validate", "-f", ".")
    assert result.exit_code == 1
    assert f"{len(EXPECTED)} problem(s) in the manifests" in result.stderr
    assert "unknown.yaml:7:3: spec.taskTyp: unknown field 'taskTyp' (did you mean 'taskType'?)" in result.stderr


@pytest.mark.parametrize("args", [("-f", "missing.yaml"), ("-f", "nothing/*.yaml")])
def test_missing_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("validate", *args)
    assert result.exit_code == 1 and "no such file or directory" in result.stderr


def test_directories_globs_and_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifests(tmp_path / "a" / "one.yaml", manifest("one"), manifest("two"))
    write_manifests(tmp_path / "a" / "deep" / "three.yml", manifest("three", project="nlp"))
    write_manifests(tmp_path / "b" / "four.yaml", manifest("four"))
    (tmp_path / "a" / "README.md").write_text("not yaml")
    (tmp_path / "a" / "empty.yaml").write_text("---\n# nothing\n---\n")
    runs = load_manifests([tmp_path / "a", str(tmp_path / "b" / "*.yaml"), tmp_path / "a" / "one.yaml"], "default")
    assert sorted((r.project, r.name) for r in runs) == [("nlp", "three"), ("vision", "four"), ("vision", "one"),
                                                         ("vision", "two")]
    located = {r.name: r.location for r in runs}
    assert located["two"].line > located["one"].line
    one = next(r for r in runs if r.name == "one")
    assert one.where("spec.blueprint.version").file == str(tmp_path / "a" / "one.yaml")
    assert one.where("spec.blueprint.version").line > one.location.line


def test_default_project_and_state() -> None:
    doc = manifest("x")
    del doc["metadata"]["project"]
    run = TrainingRun.model_validate(doc)
    assert run.metadata.project is None and run.spec.state == "running" and not run.spec.allow_replace


def test_project_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "chariot-apply.yaml"
    path.write_text("owner: team-a\nproject: vision\nmanifests: [runs/]\n")
    project = open_workspace(config=path, env={"CHARIOT_APPLY_OWNER": "team-b"}, need_manifests=False).project
    assert (project.owner, project.project, project.manifests) == ("team-b", "vision", ("runs/",))
    flagged = open_workspace(config=path, env={"CHARIOT_APPLY_OWNER": "team-b"}, owner="team-c", need_manifests=False)
    assert flagged.project.owner == "team-c"  # the flag, over the environment, over the file
    with pytest.raises(UserError, match="CHARIOT_APPLY_OWNER: owner must"):
        open_workspace(config=path, env={"CHARIOT_APPLY_OWNER": "bad owner!"}, need_manifests=False)
    path.write_text("owner: 'bad owner!'\nextra: 1\n")
    with pytest.raises(ManifestError) as info:
        load_project_file(path)
    assert {p.path for p in info.value.problems} == {"owner", ""}  # an unknown key is said at its own line
    assert "chariot-apply.yaml:2:1: unknown key 'extra'" in str(info.value.details)


# The schema is the contract; the pydantic model must agree with it on what is a valid manifest.

def test_schema_is_valid_2020_12_and_shipped_with_the_package() -> None:
    schema = manifest_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == json.loads((ROOT / "schemas" / "manifest.schema.json").read_text())


def _fields(schema: dict, model: type) -> tuple[set[str], set[str]]:
    aliases = {f.alias or name for name, f in model.model_fields.items()}
    return set(schema["properties"]), aliases


def test_schema_and_model_have_the_same_fields() -> None:
    from chariot_apply.manifest import model as m

    defs = manifest_schema()["$defs"]
    run, spec, sweep, defaults = defs["TrainingRun"], defs["RunSpec"], defs["TrainingRunSweep"], defs["RunDefaults"]
    pairs = [(run, m.TrainingRun), (run["properties"]["metadata"], m.Metadata), (spec, m.RunSpec),
             (run["properties"]["metadata"]["properties"]["sweep"], m.SweepOrigin),
             (spec["properties"]["blueprint"], m.BlueprintRef), (spec["properties"]["resources"], m.ResourcesSpec),
             (spec["properties"]["resources"]["properties"]["gpu"], m.GpuSpec),
             (sweep, m.TrainingRunSweep), (sweep["properties"]["metadata"], m.SweepMetadata),
             (sweep["properties"]["spec"], m.SweepSpec),
             (sweep["properties"]["spec"]["properties"]["matrix"], m.Matrix),
             (defaults, m.RunDefaults), (defaults["properties"]["metadata"], m.DefaultsMetadata),
             (defs["DefaultsSpec"], m.DefaultsSpec), (defs["DefaultsSpec"]["properties"]["selector"], m.Selector)]
    for sub, model in pairs:
        in_schema, in_model = _fields(sub, model)
        assert in_schema == in_model, model.__name__
        assert set(sub.get("required", [])) == {f.alias or n for n, f in model.model_fields.items()
                                                if f.is_required()}, model.__name__


manifest_documents = st.fixed_dictionaries({
    "apiVersion": st.sampled_from(["chariot-apply/v1", "chariot-apply/v2"]),
    "kind": st.just("TrainingRun"),
    "metadata": st.fixed_dictionaries({"name": st.text(max_size=3), "version": st.sampled_from(["1", ""])}),
    "spec": st.fixed_dictionaries(
        {"blueprint": st.fixed_dictionaries({"name": st.sampled_from(["bp", ""])}),
         "resources": st.fixed_dictionaries({"cpu": st.sampled_from(["1", "500m", 2, "x", -1]),
                                             "memory": st.sampled_from(["1Gi", "1e3", "Gi"])})},
        optional={"state": st.sampled_from(["running", "stopped", "absent", "gone"]),
                  "config": st.one_of(st.dictionaries(st.text(max_size=2), st.integers()), st.lists(st.integers())),
                  "allowReplace": st.one_of(st.booleans(), st.just("yes")),
                  "taskType": st.sampled_from(["T", ""]),
                  "sensitive": st.lists(st.sampled_from(["a", ""]), max_size=2)}),
})


@settings(max_examples=300)
@given(manifest_documents)
def test_schema_and_model_agree_on_validity(document: dict) -> None:
    from pydantic import ValidationError

    from chariot_apply.chariot.quantity import QuantityError

    schema_ok = jsonschema.Draft202012Validator(manifest_schema()).is_valid(document)
    try:
        TrainingRun.model_validate(document)
        model_ok = True
    except (ValidationError, QuantityError):
        model_ok = False
    assert schema_ok == model_ok
