"""No block a reader cannot hold, no file too long to read: radon's cyclomatic complexity of every function and
method (no grade E or F, at most ``MOST_AT_D`` at grade D), and no source file above ``MAX_LINES`` lines. CI also
runs xenon over the package (.ci/run)."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_rank, cc_visit

PACKAGE = Path(__file__).resolve().parent.parent / "chariot_apply"
MAX_LINES = 500
MOST_AT_D = 8


def graded() -> dict[str, list[str]]:
    """Every block of the package at grade C or worse, by grade: ``path:line name (complexity)``."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for block in cc_visit(path.read_text("utf-8")):
            grade = cc_rank(block.complexity)
            if grade >= "C":
                found.setdefault(grade, []).append(
                    f"{path.relative_to(PACKAGE)}:{block.lineno} {block.fullname} ({block.complexity})")
    return found


def test_no_block_at_grade_e_or_f() -> None:
    found = graded()
    assert not found.get("E") and not found.get("F"), found.get("E", []) + found.get("F", [])


def test_few_blocks_at_grade_d() -> None:
    at_d = graded().get("D", [])
    assert len(at_d) <= MOST_AT_D, at_d


def test_no_source_file_is_too_long() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_the_grading_sees_a_complex_block() -> None:
    """The check would pass vacuously if radon graded nothing: a block of 25 branches is a D."""
    source = "def f(x):\n" + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(25)) + "    return 0\n"
    (block,) = cc_visit(source)
    assert cc_rank(block.complexity) == "D"
