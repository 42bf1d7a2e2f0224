"""The stand-in SDK (``tests/sdk/``) is the reference, mechanically: every function, class, method and exception
the reference documents has exactly its signature (parameters, defaults, ``Literal``s, keyword-only markers,
return), and every documented field its annotation. A difference anywhere fails."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import pytest

from tests.factories import use_standin_sdk
from tests.sdk_reference import Entry, entries

REFERENCE = entries()


@pytest.fixture(autouse=True)
def standin_on_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    use_standin_sdk(request, monkeypatch)


def normalized(text: str) -> str:
    """Signature text with module prefixes dropped (``datetime.datetime`` -> ``datetime``) and spacing folded."""
    text = re.sub(r"\b(?:[a-z_][a-z0-9_]*\.)+(?=[A-Za-z_])", "", text)
    text = text.replace('"', "'")
    return re.sub(r"\s+", " ", text).strip()


def implementation(entry: Entry) -> Any:
    if entry.kind == "method":
        owner, method = entry.qualified.rsplit(".", 1)
        module, cls = owner.rsplit(".", 1)
        return getattr(getattr(importlib.import_module(module), cls), method)
    module, name = entry.qualified.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def signature_text(entry: Entry, obj: Any) -> str:
    signature = inspect.signature(obj, eval_str=True)
    if entry.kind == "method":
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])  # self
    if entry.kind in ("class", "exception"):
        signature = signature.replace(return_annotation=inspect.Signature.empty)
    return normalized(str(signature))


def reference_text(entry: Entry) -> str:
    return normalized(f"({entry.params})" + (f" -> {entry.returns}" if entry.returns else ""))


def test_the_reference_is_read_whole() -> None:
    """26 signatures: a parser that lost some would compare fewer."""
    assert len(REFERENCE) == 26
    assert {e.kind for e in REFERENCE.values()} == {"function", "class", "exception", "method"}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_the_standin_has_the_signature_the_reference_states(name: str) -> None:
    entry = REFERENCE[name]
    assert signature_text(entry, implementation(entry)) == reference_text(entry)


@pytest.mark.parametrize("name", sorted(n for n, e in REFERENCE.items() if e.fields))
def test_the_standin_models_have_the_documented_fields(name: str) -> None:
    entry = REFERENCE[name]
    model = implementation(entry)
    for field, annotation in entry.fields.items():
        if field == "model_config":
            assert f"ClassVar[ConfigDict] = {dict(model.model_config)!r}" == annotation
            continue
        assert normalized(inspect.formatannotation(model.model_fields[field].annotation)) == normalized(annotation)


def test_a_difference_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked by breaking one on purpose: a changed default no longer matches."""
    entry = REFERENCE["chariot.training_v2.blueprint.lookup_blueprint_id"]
    module = importlib.import_module("chariot.training_v2.blueprint")

    def lookup_blueprint_id(name: str, version_ilike: str | None = "%") -> str:
        return name

    monkeypatch.setattr(module, "lookup_blueprint_id", lookup_blueprint_id)
    assert signature_text(entry, implementation(entry)) != reference_text(entry)
