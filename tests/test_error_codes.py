"""Issue 37: every user error has a stable code, a one-line title, a code frame with a caret under the key or value,
and the fix; `chariot-apply explain CODE` prints the long form; `validate --format json` emits machine-readable
diagnostics that validate against schemas/diagnostics.schema.json; docs/errors.md lists every code."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import jsonschema
import pytest

import chariot_apply
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, manifest, write_manifests

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "chariot_apply"
SCHEMA = json.loads((ROOT / "schemas" / "diagnostics.schema.json").read_text())
#: Calls that make a user error or a located problem: each must say its code.
CONSTRUCTORS = {"UserError", "ManifestProblem", "Problem", "invalid", "_invalid"}


def _calls() -> list[tuple[Path, ast.Call, str]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else \
                    node.func.attr if isinstance(node.func, ast.Attribute) else ""
                if name in CONSTRUCTORS:
                    found.append((path, node, name))
    return found


def test_every_error_and_problem_made_names_its_code() -> None:
    missing = [f"{path.relative_to(ROOT)}:{call.lineno} {name}(...)" for path, call, name in _calls()
               if not any(k.arg == "code" for k in call.keywords)]
    assert len(_calls()) > 100  # the scan sees the sites
    assert missing == []


def _subclasses(cls: type) -> set[type]:
    return {c for sub in cls.__subclasses__() for c in {sub, *_subclasses(sub)}}


def test_every_kind_of_user_error_has_a_registered_code() -> None:
    for module in pkgutil.walk_packages(chariot_apply.__path__, "chariot_apply."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    kinds = _subclasses(UserError) - {c for c in _subclasses(UserError) if c.__module__.startswith("tests")}
    assert len(kinds) > 20
    assert {k.__qualname__: k.code for k in kinds if k.code not in codes.CODES} == {}


def test_every_code_is_used_and_documented() -> None:
    used = {node.attr for path in PACKAGE.rglob("*.py") if path.name != "codes.py"
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "codes"}
    constants = {name for name, value in vars(codes).items() if isinstance(value, str) and value in codes.CODES}
    assert constants and constants - used == set()
    assert (ROOT / "docs" / "errors.md").read_text() == codes.markdown(), \
        "regenerate: python -m chariot_apply.diagnostics.codes > docs/errors.md"


def test_explain_prints_the_long_form_of_every_code_and_knows_a_typo() -> None:
    for code in codes.CODES.values():
        result = run_cli("explain", code.id.lower())
        assert result.exit_code == 0 and result.stdout.startswith(f"{code.id}: {code.title}\n"), code.id
        assert "Fix:" in result.stdout, code.id
    listed = run_cli("explain", "--list").stdout.splitlines()
    assert [line.split()[0] for line in listed] == list(codes.CODES)
    typo = run_cli("explain", "CA1230")
    assert typo.exit_code == 1 and "did you mean" in typo.stderr and "Error[CA4008]" in typo.stderr


BAD_MANIFESTS = {
    "quantity": ("memory: 2Gi", "memory: 5GB", "5GB", codes.NOT_A_QUANTITY),
    "unknown field": ("  config:", "  confg:", "confg", codes.UNKNOWN_FIELD),
    "yaml number": ("version: 1.0.0", "version: 1.10", "1.10", codes.YAML_READS_A_NUMBER),
    "duplicate key": ("  name: alpha", "  name: alpha\n  name: beta", "name", codes.YAML_DUPLICATE_KEY),
}


def _bad(workdir: Path, case: str) -> tuple[Path, str, str]:
    before, after, token, code = BAD_MANIFESTS[case]
    path = write_manifests(workdir / "runs" / "a.yaml", manifest("alpha", config=classifier_config()))
    text = path.read_text()
    assert before in text, text
    path.write_text(text.replace(before, after, 1))
    return path, token, code


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_a_manifest_problem_has_its_code_and_a_caret_under_the_key_or_value(workdir: Path, case: str) -> None:
    path, token, code = _bad(workdir, case)
    result = run_cli("validate")
    assert result.exit_code == 1 and result.stderr.startswith(f"Error[{code}]: ")
    assert f"[{code}]" in result.stderr and f"Explain: chariot-apply explain {code}" in result.stderr
    lines = result.stderr.splitlines()
    carets = next(i for i, line in enumerate(lines) if "^" in line and "|" in line)
    number, _, source = lines[carets - 1].strip().partition(" | ")
    under = lines[carets].split("| ", 1)[1]
    start = under.index("^")
    width = len(under[start:]) - len(under[start:].lstrip("^"))
    assert source == path.read_text().splitlines()[int(number) - 1]  # the line as it is in the file
    assert source[start:start + width] == token  # the caret under exactly what is wrong
    assert under[start + width:].strip() == codes.CODES[code].title


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_validate_json_is_a_diagnostic_for_each_problem(workdir: Path, case: str) -> None:
    path, token, code = _bad(workdir, case)
    result = run_cli("validate", "--format", "json")
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    assert result.exit_code == 1 and document["valid"] is False
    (found,) = [d for d in document["diagnostics"] if d["code"] == code]
    line = path.read_text().splitlines()[found["line"] - 1]
    assert Path(found["file"]).resolve() == path.resolve()
    assert line[found["column"] - 1:found["end_column"] - 1] == token
    assert found["title"] == codes.CODES[code].title and found["message"]


def test_validate_json_of_valid_manifests_and_of_errors_outside_them(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("alpha"), manifest("beta"))
    fine = json.loads(run_cli("validate", "--format", "json").stdout)
    jsonschema.validate(fine, SCHEMA)
    assert fine == {"version": 1, "valid": True, "manifests": 2, "diagnostics": []}
    (workdir / "runs" / "b.yaml").write_text("apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: [\n")
    broken = json.loads(run_cli("validate", "--format", "json").stdout)
    jsonschema.validate(broken, SCHEMA)
    assert [d["code"] for d in broken["diagnostics"]] == [codes.YAML_SYNTAX] and broken["manifests"] is None
    missing = run_cli("validate", "--format", "json", "-f", "nowhere/")
    jsonschema.validate(json.loads(missing.stdout), SCHEMA)
    assert missing.exit_code == 1 and json.loads(missing.stdout)["diagnostics"][0]["code"] == codes.FILE_MISSING


def test_validate_online_json_locates_what_the_server_refuses(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("alpha", config=classifier_config(epochs="many")))
    result = run_cli("validate", "--online", "--format", "json")
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    (found,) = document["diagnostics"]
    assert result.exit_code == 1 and found["code"] == codes.CONFIG_INVALID and found["path"] == "spec.config.epochs"
    line = (workdir / "runs" / "a.yaml").read_text().splitlines()[found["line"] - 1]
    assert line[found["column"] - 1:found["end_column"] - 1] == "many"
    text = run_cli("validate", "--online")
    assert text.exit_code == 1 and f"[{codes.CONFIG_INVALID}]" in text.stderr and "^^^^" in text.stderr


def test_a_plan_names_the_code_of_each_located_problem(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("alpha", blueprint="no-such-blueprint"))
    result = run_cli("plan")
    assert result.exit_code == 1
    assert re.search(rf"runs/a\.yaml:\d+:\d+: spec\.blueprint: .*\[{codes.BLUEPRINT_NOT_FOUND}\]", result.stdout)
