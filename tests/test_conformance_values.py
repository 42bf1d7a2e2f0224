"""Kubernetes quantities and SemVer, held to the upstream cases in tests/data."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from chariot_apply.chariot.quantity import QuantityError, canonical, parse_quantity, parse_quantity_json, same_quantity
from chariot_apply.chariot.semver import is_semver
from tests.factories import DATA

QUANTITY_CASES = json.loads((DATA / "kubernetes" / "k8s_quantity_cases.json").read_text())
COMPARISONS = json.loads((DATA / "kubernetes" / "k8s_quantity_comparisons.json").read_text())
SEMVER = json.loads((DATA / "semver" / "semver_cases.json").read_text())


def _case_id(case: dict) -> str:
    return f"{case['api']}:{case['input']!r}@{case['line']}"


@pytest.mark.parametrize("case", QUANTITY_CASES, ids=_case_id)
def test_quantity_case(case: dict) -> None:
    parse = parse_quantity_json if case["api"] == "UnmarshalJSON" else parse_quantity
    if case["error"]:
        with pytest.raises(QuantityError):
            parse(case["input"])
        return
    quantity = parse(case["input"])
    if case.get("value") is not None:
        assert quantity is not None
        assert quantity.value == Decimal(case["value"])
    if quantity is None or case["api"] == "UnmarshalJSON":
        return
    if case.get("format") and quantity.value != 0:
        assert quantity.format == case["format"]
    # The conformance README: DecimalSI canonical strings at or above 10^21 differ between upstream versions.
    if not (quantity.format == "DecimalSI" and abs(quantity.value) >= Decimal("1e21")):
        assert canonical(quantity) == case["canonical"]


@pytest.mark.parametrize("fact", [c for c in COMPARISONS if "a" in c], ids=lambda c: f"{c['a']} vs {c['b']}")
def test_quantity_comparison(fact: dict) -> None:
    a, b = parse_quantity(fact["a"]), parse_quantity(fact["b"])
    if "equal" in fact:
        assert (a == b) is fact["equal"]
    else:
        assert (a.value > b.value) - (a.value < b.value) == fact["cmp"]
        assert same_quantity(fact["a"], fact["b"]) is (fact["cmp"] == 0)


def test_quantity_cases_cover_every_api() -> None:
    assert {c["api"] for c in QUANTITY_CASES} == {"ParseQuantity", "UnmarshalJSON", "QuantityValue.Set"}


@pytest.mark.parametrize("version", SEMVER["valid"])
def test_valid_semver(version: str) -> None:
    assert is_semver(version)


@pytest.mark.parametrize("version", SEMVER["invalid"])
def test_invalid_semver(version: str) -> None:
    assert not is_semver(version)
