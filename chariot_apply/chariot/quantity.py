"""Kubernetes resource quantities (``500m``, ``5Gi``, ``1e3``), parsed as apimachinery does.

Follows ``k8s.io/apimachinery/pkg/api/resource.ParseQuantity``: the same
grammar, the same suffixes, values rounded *up* to a nano unit, and the same
cap of binary-suffixed values at the largest int64 on the slow
(arbitrary precision) path. Two
quantities are equal when their values are: ``1 == 1000m``, ``5Gi == 5368709120``.
Held to the upstream cases in ``shared/conformance/kubernetes/`` by the tests.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal

Format = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

_CTX = decimal.Context(prec=200, Emax=10**6, Emin=-(10**6))
_MAX_INT64 = 2**63 - 1
_NANO = Decimal("1e-9")
_MAX_INT64_FACTORS = 18
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    format: Format

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __lt__(self, other: Quantity) -> bool:
        return self.value < other.value


def _split(text: str) -> tuple[bool, str, str, str, str]:
    """(positive, value, numerator, denominator, suffix), like apimachinery's parseQuantityString."""
    positive, pos, end = True, 0, len(text)
    if text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, Format]:
    if suffix in _BINARY:
        return 2, _BINARY[suffix], "BinarySI"
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], "DecimalSI"
    if len(suffix) > 1 and suffix[0] in "eE":
        exp = suffix[1:]
        body = exp[1:] if exp[0] in "+-" else exp
        if body and all(c in _DIGITS for c in body):
            return 10, int(exp), "DecimalExponent"
    raise QuantityError(f"unable to parse quantity's suffix {suffix!r}")


@lru_cache(maxsize=4096)
def parse_quantity(text: str) -> Quantity:
    """Parse a quantity string exactly (``ParseQuantity``); raise ``QuantityError`` when it is not one,
    including numbers beyond what decimal arithmetic here can hold (``1e9999999``, hundreds of digits)."""
    try:
        return _parse(text)
    except decimal.DecimalException:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise QuantityError(f"quantity {shown!r} is out of range") from None


def _parse(text: str) -> Quantity:
    if not isinstance(text, str) or not text:
        raise QuantityError("quantities must not be empty")
    if text == "0":
        return Quantity(Decimal(0), "DecimalSI")
    positive, value, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)
    if _fast_path(fmt, exponent, num, denom):  # exact int64 mantissa: no rounding, no cap
        exact = _CTX.multiply(Decimal(int(num + denom)), _CTX.power(Decimal(base), exponent))
        exact = exact.scaleb(-len(denom), _CTX)
        return Quantity(_tidy(exact if positive else -exact), fmt)
    try:
        unscaled = Decimal(value)
    except decimal.InvalidOperation:
        raise QuantityError(f"unable to parse numeric part of quantity {text!r}") from None
    magnitude = abs(_CTX.multiply(unscaled, _CTX.power(Decimal(base), exponent)))
    if magnitude != 0:  # round up to a nano unit: ask for some, get some
        magnitude = magnitude.quantize(_NANO, rounding=decimal.ROUND_UP, context=_CTX)
    if fmt == "BinarySI":
        magnitude = min(magnitude, Decimal(_MAX_INT64))
        if 0 < magnitude < 1:
            fmt = "DecimalSI"  # as upstream: a fraction of a byte is not shown in binary units
    return Quantity(_tidy(magnitude if positive else -magnitude), fmt)


def _tidy(value: Decimal) -> Decimal:
    return value.normalize(_CTX) if value else Decimal(0)


def _fast_path(fmt: Format, exponent: int, num: str, denom: str) -> bool:
    """apimachinery keeps an exact int64 mantissa and scale when the digits fit: then nothing is capped."""
    if fmt == "BinarySI":
        if denom:
            return False
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        scale = 0
        mantissa = 1 << exponent
    else:
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
        scale = exponent
        mantissa = 1
    if precision < 0 or scale - len(denom) < -9:
        return False
    digits = int(num + denom)
    return digits <= _MAX_INT64 and digits * mantissa <= _MAX_INT64


def parse_quantity_json(raw: str) -> Quantity | None:
    """Parse raw JSON text as ``Quantity.UnmarshalJSON`` does (``null`` is no quantity)."""
    if raw == "null":
        return None
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        raw = raw[1:-1]
    return parse_quantity(raw.strip())


def same_quantity(a: str | None, b: str | None) -> bool:
    """True when both denote the same value (or both are absent); unparsable text compares as text."""
    if a is None or b is None:
        return a is b
    try:
        return parse_quantity(a) == parse_quantity(b)
    except QuantityError:
        return a == b


_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY_SUFFIX = {exponent // 10: suffix for suffix, exponent in _BINARY.items()} | {0: ""}


def canonical(quantity: Quantity) -> str:
    """The spelling Kubernetes shows (``Quantity.String()``): ``1000m`` → ``1``, ``1536Mi`` → ``1536Mi``,
    ``0.5Gi`` → ``512Mi``, ``1.5e3`` → ``1500``. For display; equality is by value."""
    value = quantity.value
    if value == 0:
        return "0"
    fmt = quantity.format
    if fmt == "BinarySI" and (-1024 < value < 1024 or value != value.to_integral_value()):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        amount, power = int(value), 0
        while abs(amount) >= 1024 and amount % 1024 == 0:
            amount, power = amount // 1024, power + 1
        return f"{amount}{_BINARY_SUFFIX.get(power, '')}"
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), "quantities are finite"
    amount = int("".join(map(str, digits)))
    while amount >= 10 and amount % 10 == 0:  # every factor of ten into the exponent
        amount, exponent = amount // 10, exponent + 1
    while exponent % 3:  # then down to a multiple of three
        amount, exponent = amount * 10, exponent - 1
    if fmt == "DecimalSI" and exponent > 18:  # no suffix above E: spell it in E
        amount, exponent = amount * 10 ** (exponent - 18), 18
    number = f"{'-' if sign else ''}{amount}"
    if fmt == "DecimalExponent":
        return number if exponent == 0 else f"{number}e{exponent}"
    return number + _DECIMAL_SUFFIX[exponent]
