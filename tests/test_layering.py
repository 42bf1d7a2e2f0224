"""Which room may import which: import-linter's contracts in pyproject.toml (a ``layers`` contract over every room
of the package, ``forbidden`` contracts for the nevers), checked here as CI checks them. Every import counts, also
those inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chariot_apply"
CONFIG = ROOT / "pyproject.toml"


@cache
def contracts() -> list[dict[str, Any]]:
    contracts_: list[dict[str, Any]] = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
    return contracts_


def lint_imports(config: Path, *contract: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` as CI runs it, limited to ``contract`` where given."""
    command = [str(Path(sys.executable).parent / "lint-imports"), str(config), "--no-cache", "--no-logo"]
    command += [arg for c in contract for arg in ("--contract", c)]
    return subprocess.run(command, cwd=config.parent, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("contract", [c["id"] for c in contracts()])
def test_the_contract_is_kept(contract: str) -> None:
    linted = lint_imports(CONFIG, contract)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_every_room_has_its_place_in_the_layers() -> None:
    """No loose module at the top of the package: each lives in a room, and each room is a layer (``exhaustive``
    makes import-linter refuse a room it was not told of)."""
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    assert layers["exhaustive"] is True and layers["containers"] == ["chariot_apply"]
    named = {room.strip() for layer in layers["layers"] for room in layer.split("|")}
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py"}
    assert not loose, f"modules outside any room: {sorted(loose)}"
    assert rooms == named


def test_the_graph_sees_an_import_inside_a_function() -> None:
    """The contracts would pass vacuously if the graph missed lazy imports: ``validate --online`` imports the use
    cases inside the command, and the graph must hold that edge."""
    graph = grimp.build_graph("chariot_apply")
    assert graph.direct_import_exists(importer="chariot_apply.cli.manifests",
                                      imported="chariot_apply.usecases.planning")


def test_a_broken_layer_is_found(tmp_path: Path) -> None:
    """The layers contract catches an upward import (a renderer that calls a use case)."""
    package = tmp_path / "house"
    for room, source in {"top": "", "bottom": "import house.top\n"}.items():
        (package / room).mkdir(parents=True)
        (package / room / "__init__.py").write_text(source)
    (package / "__init__.py").write_text("")
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.importlinter]\nroot_package = "house"\n[[tool.importlinter.contracts]]\nid = "l"\n'
                      'name = "l"\ntype = "layers"\nlayers = ["house.top", "house.bottom"]\n')
    linted = lint_imports(config)
    assert linted.returncode != 0 and "house.bottom is not allowed to import house.top" in linted.stdout


def test_the_pieces_live_in_their_rooms() -> None:
    """The concurrency toolkit, the plan file format with its reader and writer, and the export have modules of their
    own."""
    assert "class Bounded" in (PACKAGE / "runtime" / "concurrency.py").read_text()
    document = (PACKAGE / "plan" / "document.py").read_text()
    assert all(f"def {name}(" in document for name in ("plan_json", "save_plan", "read_plan", "load_saved_plan"))
    assert "class PlanDocument" in document
    assert (PACKAGE / "usecases" / "export_manifests.py").exists()


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in helper modules (factories, harnesses), never in a test module others import."""
    tests = Path(__file__).resolve().parent
    wrong = {f"{path.name} imports {node.module}" for path in tests.glob("*.py")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.ImportFrom) and node.module
             and node.module.startswith(("tests.test_", "tests.conftest"))}
    assert not wrong, sorted(wrong)


def test_the_development_guide_maps_every_module() -> None:
    """docs/development.md names each module in its room's row: a module added without a place there fails."""
    rows = {line.split("|")[1].strip().strip("`/"): line for line in
            (ROOT / "docs" / "development.md").read_text().splitlines() if line.startswith("| `")}
    missing = [f"{room}/{path.relative_to(PACKAGE / room)}" for room in rows for path in (PACKAGE / room).rglob("*.py")
               if path.name != "__init__.py" and f"`{path.name}`" not in rows[room]
               and f"{path.relative_to(PACKAGE / room).parent}/" not in rows[room]]
    assert set(rows) == {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert not missing, missing
