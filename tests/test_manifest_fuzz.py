"""Every manifest gets an answer: runs, or located problems (ManifestError); never another exception, never a
hang. The minimal cases found by fuzzing 10,000 manifests, then hypothesis over the loader and the planner."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chariot_apply.manifest.errors import ManifestError
from chariot_apply.manifest.loader import load_manifests
from chariot_apply.plan.diff import build_plan
from chariot_apply.plan.model import PlanOptions
from tests.cli_helpers import run_cli
from tests.factories import manifest
from tests.plan_factories import state

VALID = yaml.safe_dump(manifest("a"), sort_keys=False)
BOMB = "".join(f"{a}: &{a} [{', '.join([f'*{p}'] * 9) if p else 'x, x, x, x, x, x, x, x, x'}]\n"
               for p, a in zip(["", *"abcdefgh"], "abcdefghi", strict=True))

MINIMAL = {
    "a control byte in a string": (VALID.replace("name: a", 'name: "a\x01b"'), "control character U+0001"),
    "1,000 levels of nested lists": (VALID + "extra: " + "[" * 1000 + "]" * 1000 + "\n", "nest"),
    "an integer of 5,000 digits": (VALID.replace("epochs: 1", "epochs: " + "9" * 5000), "too long a number"),
    "memory of 250 nines": (VALID.replace("memory: 2Gi", f"memory: '{'9' * 250}'"), "out of range"),
    "cpu 1e9999999": (VALID.replace("cpu: '1'", "cpu: '1e9999999'"), "out of range"),
    "a YAML date in config": (VALID.replace("epochs: 1", "epochs: 2024-01-01"), "a YAML date"),
    "binary in config": (VALID.replace("epochs: 1", "epochs: !!binary aGVsbG8="), "YAML binary"),
    "a blueprint name of 70,000 characters": (VALID.replace("name: image-classifier", "name: " + "b" * 70000),
                                              "spec.blueprint.name"),
    "a nine-level alias bomb": (BOMB, "expands to more than"),
}


@pytest.mark.parametrize("case", sorted(MINIMAL))
def test_the_minimal_cases_are_located_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    text, said = MINIMAL[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(text, "utf-8")
    result = run_cli("validate", "-f", "m.yaml", "--owner", "t")
    assert result.exit_code == 1, result.output
    assert said in result.stderr, result.stderr[:2000]
    assert "m.yaml:" in result.stderr and "Traceback" not in result.output


def _load(text: str, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, "utf-8", errors="surrogatepass")
    try:
        runs = load_manifests([path], "vision")
    except ManifestError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
        return
    build_plan(runs, state(), PlanOptions(owner="fuzz"))  # whatever loads, the planner takes


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_random_text(tmp_path: Path, text: str) -> None:
    _load(text, tmp_path)


NASTY = st.one_of(
    st.integers(), st.floats(), st.booleans(), st.none(), st.text(max_size=20), st.just("9" * 5000),
    st.just("1e9999999"), st.just(""), st.just("\t"), st.just("é" * 300), st.binary(max_size=10),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    return found


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_mutations_of_a_valid_manifest(tmp_path: Path, data: st.DataObject) -> None:
    doc = copy.deepcopy(manifest("a"))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)))
        parent = doc
        for key in path[:-1]:
            parent = parent[key] if isinstance(parent, dict) else parent
        if isinstance(parent, dict):
            parent[path[-1]] = data.draw(NASTY)
    text = yaml.dump(doc, sort_keys=False, allow_unicode=True)
    edit = data.draw(st.sampled_from(["", "tab", "null-byte", "control", "deep", "alias"]))
    if edit == "tab":
        text = text.replace("  ", "\t", 1)
    elif edit == "null-byte":
        text = text.replace("a", "\x00", 1)
    elif edit == "control":
        text = text.replace("a", "\x07", 1)
    elif edit == "deep":
        text += "deep: " + "[" * 500 + "]" * 500 + "\n"
    elif edit == "alias":
        text = BOMB + text
    _load(text, tmp_path)


SCALARS = st.one_of(
    st.sampled_from(["yes", "No", "on", "OFF", "y", "~", "null", "Null", "", "1e3", "1.5e-3", "0x1F", "0o17", "010",
                     "1_000", "+12", "-0", ".5", "6.", ".inf", "-.Inf", ".nan", "1:20", "2026-01-01", "true", "abc",
                     "'quoted'", '"1"', "!!str 12", "!!int '7'"]),
    st.text(alphabet="0123456789.:-+_eExob", max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(SCALARS, min_size=1, max_size=6))
def test_scalars_read_as_pyyaml_reads_them(values: list[str]) -> None:
    """Our loader remembers how each scalar resolved and takes strings directly: it must read exactly what
    PyYAML's own safe loader reads, twice in a row (the second time from what it remembered)."""
    from chariot_apply.manifest.yaml_source import parse_documents

    text = "".join(f"k{i}: {v}\n" for i, v in enumerate(values))
    try:
        expected = yaml.load(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, ValueError):
        return
    for _ in range(2):
        documents, problems = parse_documents(text, "t.yaml")
        if problems:  # refused (a date, .inf, .nan): located, and nothing else to compare
            assert all(p.location.line >= 1 for p in problems)
            continue
        assert documents[0].data == expected
        assert [type(v) for v in documents[0].data.values()] == [type(v) for v in expected.values()]
