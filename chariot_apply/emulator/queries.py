"""The emulator's queries: WHERE clauses from the SDK's filters, ILIKE over names, limits, sorts, transactions."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.ilike import IlikePatternError, compile_ilike, literal
from chariot_apply.emulator.errors import EmulatorError
from chariot_apply.emulator.schema import timestamp


class Where:
    """A WHERE clause from the filters given (``None``: no filter); an empty list matches nothing."""

    def __init__(self, *clauses: str) -> None:
        self.clauses = list(clauses)
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> Where:
        self.clauses.append(clause)
        self.params += params
        return self

    def any_of(self, column: str, values: Sequence[Any] | None) -> Where:
        if values is None:
            return self
        return self.add(f"{column} IN ({','.join('?' * len(values))})" if values else "0", *values)

    def created(self, after: datetime | None, before: datetime | None) -> Where:
        """Strictly after / before, as the reference's keyset pagination needs."""
        if after is not None:
            self.add("created_at > ?", round(timestamp(after), 6))
        if before is not None:
            self.add("created_at < ?", round(timestamp(before), 6))
        return self

    def __str__(self) -> str:
        return " AND ".join(self.clauses) or "1"


def names_clause(where: Where, patterns: list[str]) -> None:
    """``name ILIKE any of patterns``: exact (folded) names through the index, the rest by one regex."""
    exact: list[str] = []
    wild: list[str] = []
    for pattern in patterns:
        try:
            text = literal(pattern)
        except IlikePatternError as exc:
            raise EmulatorError(400, str(exc)) from None
        (exact if text is not None else wild).append(text if text is not None else pattern)
    terms, params = [], []
    if exact:
        terms.append(f"name_folded IN ({','.join('?' * len(exact))})")
        params += exact
    if wild:
        terms.append("matches_any(name_folded, ?)")
        params.append("|".join(f"(?:{compile_ilike(p).pattern})" for p in wild))
    where.add("(" + (" OR ".join(terms) or "0") + ")", *params)


class Transaction:
    """One write transaction, taken at its start (``BEGIN IMMEDIATE``): a deferred one that read first and then
    wrote would fail at once with "database is locked" when another process wrote meanwhile (SQLite cannot
    wait there), where an immediate one waits its turn (the busy timeout). Inside another: part of it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._outer = False

    def __enter__(self) -> None:
        self._outer = not self._db.in_transaction
        if self._outer:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._outer:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")


@lru_cache(maxsize=256)
def _alternation(source: str) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL)


def matches_any(folded: str | None, source: str) -> bool:
    """``value ILIKE any of the patterns`` whose regular expressions ``source`` joins with ``|``."""
    return folded is not None and _alternation(source).fullmatch(folded) is not None


def compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return compile_ilike(pattern)
    except IlikePatternError as exc:
        raise EmulatorError(400, str(exc)) from None


def limit_of(limit: int | None, default: int, maximum: int | None = rest.MAX_PAGE_SIZE) -> int:
    if limit is None:
        return default
    if maximum is not None and limit > maximum:
        raise EmulatorError(400, f"limit must be at most {maximum}")
    return limit


def order_by(sort: Sequence[str]) -> str:
    terms, columns = [], set()
    for spec in sort:
        column, _, direction = spec.partition(":")
        if column in columns:
            continue
        columns.add(column)
        terms.append(f"{column} {'DESC' if direction == 'desc' else 'ASC'}")
    if "id" not in columns:
        terms.append("id " + terms[-1].split()[-1])
    return ", ".join(terms)
