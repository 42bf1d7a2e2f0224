"""Which package may import which: the planner never imports the CLI, renderers or the emulator; the client knows
nothing of manifests; only the CLI speaks click. Every import counts, also those inside functions and under
TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "chariot_apply"

#: package (or module) -> what it must never import
FORBIDDEN: dict[str, set[str]] = {
    # The Chariot model is pure: no backend, nothing above it.
    "chariot": {"backends", "manifest", "plan", "apply", "render", "cli", "github", "workflow", "workspace", "export",
                "emulator", "watch", "connect"},
    "backends": {"manifest", "plan", "apply", "render", "cli", "github", "workflow", "workspace", "export", "watch"},
    # Manifests, the planner, the executor and the renderers know the model, never a backend.
    "manifest": {"backends", "plan", "apply", "render", "cli", "github", "workflow", "workspace", "export",
                 "emulator"},
    "plan": {"backends", "cli", "render", "emulator", "github", "workflow", "workspace", "apply", "export"},
    "render": {"backends", "cli", "emulator", "github", "workflow", "workspace"},
    "apply": {"backends", "cli", "render", "emulator", "github", "workflow", "workspace"},
    "export": {"backends", "cli", "render", "emulator", "github", "workflow"},
    "watch": {"backends", "cli", "render", "emulator", "github", "workflow"},
    "concurrency": {"chariot", "manifest", "plan", "apply", "render", "cli", "github", "emulator"},
    # Writing files knows nothing of what it writes.
    "files": {"chariot", "backends", "manifest", "plan", "apply", "render", "cli", "github", "emulator", "workflow",
              "workspace", "export"},
    "emulator": {"cli", "manifest", "plan", "apply", "render", "github", "workflow"},
}


def imports_of(path: Path) -> set[str]:
    """Every chariot_apply module ``path`` imports, as a dotted name below chariot_apply."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.removeprefix("chariot_apply.") for name in names if name.startswith("chariot_apply.")}
    return found


def modules_of(unit: str) -> list[Path]:
    folder = PACKAGE / unit
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{unit}.py"]


def breaks(imported: str, forbidden: set[str]) -> bool:
    return any(imported == f or imported.startswith(f + ".") for f in forbidden)


@pytest.mark.parametrize("unit", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(unit: str) -> None:
    wrong = {f"{path.relative_to(PACKAGE)} imports {name}" for path in modules_of(unit)
             for name in imports_of(path) if breaks(name, FORBIDDEN[unit])}
    assert not wrong, sorted(wrong)


def test_only_the_cli_speaks_click() -> None:
    speakers = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                if any(isinstance(node, ast.Import | ast.ImportFrom) and "click" in (
                    [a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import)
                    else [(node.module or "").split(".")[0]])
                    for node in ast.walk(ast.parse(path.read_text())))}
    assert {s for s in speakers if not s.startswith("cli/")} == set()


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    """The rule would pass vacuously if it missed lazy imports: it must not."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from chariot_apply.cli.main import cli\n")
    assert breaks(next(iter(imports_of(module) - {"cli.main.cli"})), FORBIDDEN["plan"])


def test_the_pieces_live_in_their_rooms() -> None:
    """The concurrency toolkit, the plan file format and the export have modules of their own."""
    assert "class Bounded" in (PACKAGE / "concurrency.py").read_text()
    assert "class PlanDocument" in (PACKAGE / "plan" / "document.py").read_text()
    assert not (PACKAGE / "manifest" / "export.py").exists() and (PACKAGE / "export.py").exists()


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in helper modules (factories, harnesses), never in a test module others import."""
    tests = Path(__file__).resolve().parent
    wrong = {f"{path.name} imports {node.module}" for path in tests.glob("*.py")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.ImportFrom) and node.module
             and node.module.startswith(("tests.test_", "tests.conftest"))}
    assert not wrong, sorted(wrong)
