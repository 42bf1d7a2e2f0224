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
from tests.sdk_reference import Entry, documented_names, entries

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


# ---------------------------------------------------------------------- nothing the reference does not document

def standin_exports() -> dict[str, Any]:
    """Every public name of every public stand-in module whose object the stand-in itself defines (a class,
    function or submodule of ``chariot``), by its dotted name. Library imports (``datetime``, ``Literal``) are
    not the SDK's names; ``_private`` ones are not exports."""
    import pkgutil

    import chariot

    found: dict[str, Any] = {}
    modules = ["chariot"] + [m.name for m in pkgutil.walk_packages(chariot.__path__, "chariot.")]
    for module_name in modules:
        if any(part.startswith("_") for part in module_name.split(".")):
            continue
        module = importlib.import_module(module_name)
        found[module_name] = module
        for name, obj in vars(module).items():
            origin = getattr(obj, "__name__", "") if inspect.ismodule(obj) else getattr(obj, "__module__", "")
            if not name.startswith("_") and (origin == "chariot" or str(origin).startswith("chariot.")):
                found[f"{module_name}.{name}"] = obj
    return found


def undocumented_exports() -> list[str]:
    return sorted(set(standin_exports()) - documented_names())


def test_the_standin_exports_nothing_the_reference_does_not_document() -> None:
    """Adapter code that works here works on an SDK that has only what the reference promises: every module,
    class and function the stand-in makes public is named in the reference (or the platform facts)."""
    assert undocumented_exports() == []
    assert {"chariot.training_v2.run.get_runs", "chariot.training_v2.Run",
            "chariot.training_v2.lookup_blueprint_id"} <= set(standin_exports())


def test_an_undocumented_export_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked by exporting one on purpose: ``get_runs`` at the package (documented only in ``run``) fails."""
    import chariot.training_v2
    import chariot.training_v2.run

    monkeypatch.setattr(chariot.training_v2, "get_runs", chariot.training_v2.run.get_runs, raising=False)
    assert undocumented_exports() == ["chariot.training_v2.get_runs"]


# ---------------------------------------------------------------------- our own SDK-shaped facade

#: Run methods of the SDK and the facade's counterpart, which takes the run (its id; ``reload``: the run) first.
#: ``Run.get_checkpoints`` is ``get_checkpoints(run_ids=[...])`` and ``Checkpoint.create_model`` is
#: ``create_model_from_checkpoint(checkpoint_id=...)``: the facade has the functions, not a second spelling.
FACADE_RUN_METHODS = {
    "Run.stop": ("stop_run", "run_id: str"),
    "Run.delete": ("delete_run", "run_id: str"),
    "Run.reload": ("reload", "run: Run"),
    "Run.get_events": ("get_events", "run_id: str"),
    "Run.get_metrics": ("get_metrics", "run_id: str"),
    "Run.get_all_metrics": ("get_all_metrics", "run_id: str"),
    "Run.get_global_steps_with_checkpoints": ("get_global_steps_with_checkpoints", "run_id: str"),
}
FACADE_FUNCTIONS = sorted(n for n, e in REFERENCE.items() if e.kind == "function")


def facade_text(obj: Any) -> str:
    """The facade's signature with ``self`` dropped; ``dict[str, Any]`` spelled ``dict`` (the same type: mypy
    --strict wants the parameters written) and ``delete``'s missing ``-> None`` in the reference made explicit."""
    signature = inspect.signature(obj, eval_str=True)
    signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return normalized(str(signature)).replace("dict[str, Any]", "dict")


def reference_with(entry: Entry, first: str | None = None) -> str:
    params = ", ".join(p for p in (first, entry.params) if p)
    return normalized(f"({params}) -> {entry.returns or 'None'}")


@pytest.mark.parametrize("name", FACADE_FUNCTIONS)
def test_the_facade_has_the_sdk_function_signature(name: str) -> None:
    from chariot_apply.backends.rest.sync import ChariotClient

    entry = REFERENCE[name]
    assert facade_text(getattr(ChariotClient, entry.qualified.rsplit(".", 1)[1])) == reference_with(entry)


@pytest.mark.parametrize("method", sorted(FACADE_RUN_METHODS))
def test_the_facade_has_each_run_method_after_the_run(method: str) -> None:
    from chariot_apply.backends.rest.sync import ChariotClient

    entry = REFERENCE[f"chariot.training_v2.run.{method}"]
    counterpart, first = FACADE_RUN_METHODS[method]
    assert facade_text(getattr(ChariotClient, counterpart)) == reference_with(entry, first)


def test_every_run_method_is_in_the_facade_table() -> None:
    """A method the reference gains must be placed: a counterpart, or a line saying which function serves it."""
    documented = {e.qualified.split(".", 3)[3] for e in REFERENCE.values()
                  if e.kind == "method" and ".run.Run." in e.qualified}
    assert documented - set(FACADE_RUN_METHODS) == {"Run.get_checkpoints"}


def model_text(model: Any) -> str:
    """A pydantic model's constructor as the reference writes it (``(*, field: type = default, ...)``), built from
    its fields (a deferred model's own signature is ``(**data)``)."""
    fields = [f"{name}: {inspect.formatannotation(info.annotation)}" + ("" if info.is_required() else
                                                                       f" = {info.get_default()!r}")
              for name, info in model.model_fields.items()]
    return normalized(f"(*, {', '.join(fields)})").replace("dict[str, Any]", "dict")


@pytest.mark.parametrize("name", sorted(n for n, e in REFERENCE.items() if e.kind == "class"))
def test_our_models_have_the_documented_constructor(name: str) -> None:
    """The facade's models (ours) are built from what the SDK's are, field for field, type for type; the one
    deviation is written here: a metric's and a progress entry's ``value`` may be null, as real blueprints
    report (chariot-blueprint-facts)."""
    from chariot_apply.chariot import models

    entry = REFERENCE[name]
    documented = reference_text(entry)
    if name.endswith(("Metric", "Progress")):
        documented = re.sub(r"(?<![\w])value: float \| int,", "value: float | int | None,", documented)
    assert model_text(getattr(models, entry.qualified.rsplit(".", 1)[1])) == documented


@pytest.mark.parametrize("name", sorted(n for n, e in REFERENCE.items() if e.kind == "exception"))
def test_our_exceptions_are_built_as_the_sdks_are(name: str) -> None:
    """Our exceptions take the SDK's parameters first, in its order and kinds, with its defaults; what they add
    (``message``, ``request_id``, ``hint``) is keyword-only after them, so SDK-style construction means the same."""
    from chariot_apply.chariot import errors

    entry = REFERENCE[name]
    ours = inspect.signature(getattr(errors, entry.qualified.rsplit(".", 1)[1]), eval_str=True)
    namespace: dict[str, Any] = {"Any": Any}
    exec(f"def documented({entry.params}): pass", namespace)  # the reference's own text, as Python reads it
    documented = list(inspect.signature(namespace["documented"]).parameters.values())
    head = list(ours.parameters.values())[:len(documented)]
    assert [(p.name, p.kind, p.default) for p in head] == [(p.name, p.kind, p.default) for p in documented]
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in list(ours.parameters.values())[len(documented):])


def test_a_facade_difference_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked by breaking the facade on purpose: ``download_checkpoint`` returning the paths is a difference."""
    from chariot_apply.backends.rest.sync import ChariotClient

    def download_checkpoint(self: Any, id: str, file_dir: str) -> list[str]:
        return []

    monkeypatch.setattr(ChariotClient, "download_checkpoint", download_checkpoint)
    entry = REFERENCE["chariot.training_v2.checkpoint.download_checkpoint"]
    assert facade_text(ChariotClient.download_checkpoint) != reference_with(entry)
