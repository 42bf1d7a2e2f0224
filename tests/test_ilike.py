"""ILIKE as PostgreSQL does it: the SDK reference's own examples, escapes, case, non-ASCII."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chariot_apply.chariot.ilike import IlikePatternError, escape_ilike, has_wildcards, ilike

# (pattern, value, matches): the examples in the SDK reference's get_runs(name_ilikes=...) text.
REFERENCE_EXAMPLES = [
    ("%test-run%", "test-run", True),
    ("%test-run%", "FOOtest-runBAR", True),
    ("%test-run%", "test-runBAR", True),
    ("\\%test_run", "%test9run", True),
    ("\\%test_run", "%test_run", True),
    ("\\%test_run", "FOOtest_run", False),
    ("\\%test_run", "%test__run", False),
    ("\\%test_run", "%test_runBAR", False),
    ("test\\_run", "test_run", True),
    ("test\\_run", "testXrun", False),
]


@pytest.mark.parametrize(("pattern", "value", "matches"), REFERENCE_EXAMPLES)
def test_reference_examples(pattern: str, value: str, matches: bool) -> None:
    assert ilike(value, pattern) is matches


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("RESNET", "resnet", True),  # case-insensitive
        ("été", "ÉTÉ", True),  # non-ASCII letters fold too, as with a UTF-8 PostgreSQL database
        ("σίγμα", "ΣΊΓΜΑ", True),
        ("straße", "STRASSE", False),  # no multi-character folding: lower('SS') is 'ss', not 'ß'
        ("a_c", "aéc", True),  # _ is one character, not one byte
        ("a_c", "ac", False),
        ("a%", "a\nb", True),  # % crosses newlines
        ("a\\\\b", "a\\b", True),  # an escaped backslash is a literal backslash
        ("a\\b", "ab", True),  # escaping an ordinary character leaves it ordinary
        ("2.%", "2.1.0", True),
        ("2.%", "12.1.0", False),  # the whole value must match
        ("1._.0", "1.1.0", True),
        ("", "", True),
        ("", "x", False),
    ],
)
def test_postgres_semantics(pattern: str, value: str, matches: bool) -> None:
    assert ilike(value, pattern) is matches


def test_trailing_escape_is_an_error_as_in_postgres() -> None:
    with pytest.raises(IlikePatternError, match="must not end with escape character"):
        ilike("abc", "abc\\")


@given(st.text())
def test_escaped_literal_matches_itself(text: str) -> None:
    assert ilike(text, escape_ilike(text))
    assert not has_wildcards(escape_ilike(text))


@given(st.text(min_size=1), st.text(min_size=1))
def test_escaped_literal_matches_only_its_case_variants(text: str, other: str) -> None:
    if ilike(other, escape_ilike(text)):
        assert len(other) == len(text)
        assert all(a == b or a.lower() == b.lower() or a.upper() == b.upper() or a.casefold() == b.casefold()
                   for a, b in zip(text, other, strict=True))


@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("s", "\u017f", False),  # PostgreSQL: the long s lowercases to itself; re.IGNORECASE would say yes
    ("k", "\u212a", True),  # the Kelvin sign lowercases to k
    ("i", "İ", True),  # simple lowercase of İ is i
    ("İ_", "ix", True),
])
def test_case_folding_is_per_character_lowercase_as_in_postgres(pattern: str, value: str, matches: bool) -> None:
    assert ilike(value, pattern) is matches


def _reference(value: str, pattern: str) -> bool:
    """ILIKE by dynamic programming over (value position, pattern token): slow, plainly right."""
    from chariot_apply.chariot.ilike import _tokens, fold

    tokens, text = _tokens(pattern), fold(value)
    reach = {0}
    for wild, ch in tokens:
        if wild and ch == "%":
            reach = set(range(min(reach), len(text) + 1)) if reach else set()
        else:
            reach = {i + 1 for i in reach if i < len(text) and (wild or text[i] == fold(ch))}
    return len(text) in reach


@given(st.text(alphabet="ab%_\\", max_size=12), st.text(alphabet="abAB%_", max_size=14))
def test_the_linear_matcher_agrees_with_the_reference(pattern: str, value: str) -> None:
    try:
        expected = _reference(value, pattern)
    except IlikePatternError:
        with pytest.raises(IlikePatternError):
            ilike(value, pattern)
        return
    assert ilike(value, pattern) is expected


@pytest.mark.parametrize("pattern", ["%" * 20 + "x", "%a" * 30 + "%x", "%a%a%a%a%a%a%a%a%a%a%a%a%b"])
def test_patterns_that_once_backtracked_exponentially_agree_with_the_reference(pattern: str) -> None:
    """`%%%%%%%%%%%%%%%%%%%%x` took 5.3 s on a 22-character name; the matcher is now linear in both lengths.
    (Correctness is asserted here; the emulator's HTTP fuzz test guards against a hang.)"""
    for value in ("a" * 200, "a" * 199 + "x", "a" * 60 + "b"):
        assert ilike(value, pattern) is _reference(value, pattern)
