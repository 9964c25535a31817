"""Part of the store's performance patch (`docstore_patch.apply` installs it): SQLite expression
indexes that let mongoeco's own SQL for an equality read only the matching rows. Results never
change: an index is only an access path, SQLite still evaluates the whole WHERE clause.

Why: mongoeco 4.11 translates `{"topic": "roads"}` (with no array stored at `topic`) to
`json_type(document, '$.topic') = 'text' AND json_extract(document, '$.topic') = 'roads'` over
its one `documents` table, while the indexes it builds for a declared `create_index` are on other
expressions (`COALESCE(json_extract(document, '$.topic."$mongoeco".type'), '')`, ...) that such a
WHERE clause never names. So routing's cluster query and repeat check read the JSON of every
document of the collection (12 → 21 ms from 1,500 to 3,000 assignments).

What: for `_id` when the store opens, and for every ascending or descending index a service
declares on the index's first field (a plain dotted path), the patch creates
`documents (db_name, coll_name, json_extract(document, '$.<path>'), storage_key)`, named
`platform_eq_<hash of the path>` and shared by every collection holding that field. SQLite uses
it when the WHERE clause has that exact `json_extract(...) = ?` term (an equality on a field
holding no array; with an array stored there mongoeco adds an `OR json_each` branch and SQLite
falls back to its other paths, still exact).

`_id` needs one too: mongoeco seeks its primary key only for a filter that is `_id` alone; a
guarded write (`{_id, version, applied: {$ne}}`, every aggregate's, notify's claims) becomes
`json_extract(document, '$._id') = ?` among other terms, which read every document of the
collection (a guarded `update_one` 2.8 ms at 15 appeals, 7.1 ms at 3,000).

Dotted `$exists` (the outbox sweep, `{"outbox.id": {"$exists": true}}`, every 2 s in every
service): docstore_patch reads only the documents whose `outbox` holds something, but finding
them read every document's JSON (1.6 ms at 15, 6.5 ms at 3,000). For a declared index on a
dotted path declared sparse (only the documents having it) the patch adds a partial index of the
documents whose head field holds something
(`platform_some_<hash>`, its WHERE the prefilter's own SQL), so SQLite reads only those few.

Which index serves a query is SQLite's choice, by `ANALYZE` statistics (`sqlite_stat1`): without
them every one-column equality looks equally selective and SQLite took `status` (every assignment
"routed") over `topic`. The patch runs `ANALYZE` when it creates an index and again each time the
documents written since the last one reach the row count then analysed (so its cost, 12 ms for
6,000 documents and 13 indexes, stays a constant share of the writes). Statistics steer only the
choice of access path. The row order of an unsorted query is the access path's; MongoDB does not
define it either (see docs/store.md for the callers checked).

Datetime ranges: mongoeco translates `{"next_due_at": {"$lte": t}}` to `(<BSON type bucket> < 9)
OR (<type> = 'datetime' AND <value> <= t)`, which no index can seek. While every document of the
collection holds a datetime or nothing at that field (settled like docstore_patch's checks: the
engine-side SQL first, then every written document's type there), the bucket branch matches no
row, so a whole filter (never a clause under $not/$nor/$or) that requires the range gains the
conjunct `<type> = 'datetime' AND <value> <= t` on the expressions of mongoeco's own index of a
declared field, and SQLite seeks that index. A null, number, string... written there ends it.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from datetime import datetime
from typing import Any

from docstore_patch import _any_document, _settle, _written, holds_something
from mongoeco.core.query_plan import (
    AndCondition,
    GreaterThanCondition,
    GreaterThanOrEqualCondition,
    LessThanCondition,
    LessThanOrEqualCondition,
)
from mongoeco.engines import sqlite as engine_module
from mongoeco.engines.sqlite import DocumentCodec, SQLiteEngine

PREFIX = "platform_eq_"
_PLAIN_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# documents written since the last ANALYZE, and the rows it analysed (-1: not analysed yet)
_state = {"written": 0, "analysed": -1}
_MIN_REANALYSE = 500  # documents written before statistics are refreshed at the earliest
_RANGES = {
    LessThanOrEqualCondition: "<=",
    LessThanCondition: "<",
    GreaterThanOrEqualCondition: ">=",
    GreaterThanCondition: ">",
}
_DATETIME = "object:datetime"  # docstore_patch's written type of a datetime


def holding_index(field: str) -> tuple[str, str] | None:
    """(name, CREATE INDEX statement) of the partial index of the documents whose head of `field`
    (`outbox` of `outbox.id`) is a document or a non-empty array; None unless `field` is dotted."""
    if not _PLAIN_PATH.fullmatch(field) or "." not in field:
        return None
    head = field.split(".")[0]
    name = "platform_some_" + hashlib.sha256(head.encode()).hexdigest()[:16]
    where = holds_something(head)
    return (
        name,
        f'CREATE INDEX IF NOT EXISTS "{name}" ON documents (db_name, coll_name, storage_key) WHERE {where}',
    )


def expression_index(field: str) -> tuple[str, str] | None:
    """(name, CREATE INDEX statement) of the equality index for `field`, a plain dotted path
    (`organization.id`, `_id`); None for any other path."""
    if not _PLAIN_PATH.fullmatch(field):
        return None
    path = engine_module.json_path_for_field(field).replace("'", "''")
    name = PREFIX + hashlib.sha256(field.encode()).hexdigest()[:16]
    sql = (
        f'CREATE INDEX IF NOT EXISTS "{name}" ON documents '  # the name is hex: nothing to quote
        f"(db_name, coll_name, json_extract(document, '{path}'), storage_key)"
    )
    return name, sql


def _id_index() -> tuple[str, str]:
    index = expression_index("_id")
    assert index is not None  # `_id` is a plain path
    return index


ID_INDEX = _id_index()


def _create_missing(conn: sqlite3.Connection, wanted: list[tuple[str, str]]) -> None:
    """Create the (name, statement) indexes not there yet; then refresh the statistics, so SQLite
    weighs a new index against the others. Raises sqlite3.Error as the connection does."""
    missing = [
        sql
        for name, sql in wanted
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    ]
    for sql in missing:
        conn.execute(sql)
    if missing:
        _analyse(conn)


def _analyse(conn: sqlite3.Connection) -> None:
    """Refresh the statistics of every index of `documents` (sqlite_stat1); remembers the row
    count analysed. Raises sqlite3.Error as the connection does."""
    conn.execute("ANALYZE documents")
    (rows,) = conn.execute("SELECT COUNT(*) FROM documents").fetchone()
    _state["written"], _state["analysed"] = 0, int(rows)


def _datetime_range(plan: Any) -> tuple[str, str, str] | None:
    """(field, SQL operator, stored value) of a `$lt/$lte/$gt/$gte` on a plain path with a
    datetime operand; None for any other condition."""
    operator = _RANGES.get(type(plan))
    if operator is None or not isinstance(plan.value, datetime) or not _PLAIN_PATH.fullmatch(plan.field):
        return None
    payload = DocumentCodec.encode(plan.value).get(DocumentCodec._MARKER)
    if not isinstance(payload, dict) or payload.get(DocumentCodec._TYPE) != "datetime":
        return None
    return plan.field, operator, str(payload[DocumentCodec._VALUE])


def _only_datetimes(self: SQLiteEngine, db_name: str, coll_name: str, field: str) -> bool:
    """Does every document of the collection hold a datetime at `field`, or nothing (no null)?
    Settled while every document written since start did (docstore_patch's written types)."""

    def compute() -> bool:
        return not _any_document(
            self,
            db_name,
            coll_name,
            field,
            lambda path: (
                f"json_type(document, {path}) IS NOT NULL"
                f" AND {engine_module.type_expression_sql(field)} != 'datetime'"
            ),
        )

    return bool(
        _settle(
            (db_name, coll_name, "only_datetimes", field),
            lambda answer: not answer or any(t != _DATETIME for t in _written(db_name, coll_name, field)),
            compute,
        )
    )


def _implied_ranges(self: SQLiteEngine, db_name: str, coll_name: str, plan: Any) -> tuple[str, list[object]]:
    """For each datetime range a top-level `plan` requires of a field where every document holds
    a datetime or nothing: `<type> = 'datetime' AND <value> <op> ?` on the expressions of
    mongoeco's own index of a declared field, so SQLite can seek it. ("", []) when none."""
    terms: list[str] = []
    params: list[object] = []
    for clause in plan.clauses if isinstance(plan, AndCondition) else (plan,):
        found = _datetime_range(clause)
        if found is None or not _only_datetimes(self, db_name, coll_name, found[0]):
            continue
        field, operator, value = found
        type_sql, value_sql = (
            engine_module.type_expression_sql(field),
            engine_module.value_expression_sql(field),
        )
        terms.append(f"{type_sql} = 'datetime' AND {value_sql} {operator} ?")
        params.append(value)
    return " AND ".join(terms), params


def apply() -> None:
    """Wrap `SQLiteEngine._connect_sync` (the `_id` index), `_create_index_sync` (a declared
    index's expression and partial indexes, then statistics) and
    `_validate_document_against_unique_indexes` (every write path: counts documents written and
    re-analyses on schedule). Call once, from `docstore_patch.apply`."""
    connect = SQLiteEngine._connect_sync
    create = SQLiteEngine._create_index_sync
    validate = SQLiteEngine._validate_document_against_unique_indexes
    translate = SQLiteEngine._translate_query_plan_with_multikey
    depth = threading.local()  # nesting of the translation: 0 is a whole filter

    def translate_with_ranges(self: SQLiteEngine, db_name: str, coll_name: str, plan: Any) -> Any:
        level = getattr(depth, "value", 0)
        depth.value = level + 1
        try:
            sql, params = translate(self, db_name, coll_name, plan)
        finally:
            depth.value = level
        if level:  # a clause may sit under a NOT: only a whole filter gains a conjunct
            return sql, params
        implied, implied_params = _implied_ranges(self, db_name, coll_name, plan)
        if not implied:
            return sql, params
        return f"({sql}) AND {implied}", [*params, *implied_params]

    def connect_with_id_index(self: SQLiteEngine) -> None:
        connect(self)
        with self._lock:
            _create_missing(self._require_connection(), [ID_INDEX])

    def create_with_expression(
        self: SQLiteEngine,
        db_name: str,
        coll_name: str,
        keys: Any,
        unique: bool,
        name: Any,
        sparse: bool,
        *a: Any,
    ) -> str:
        created: str = create(self, db_name, coll_name, keys, unique, name, sparse, *a)
        first = keys[0] if keys else None
        if first and first[1] in (1, -1):
            # the partial index only for a sparse one: an index of the documents having the field,
            # as the sweep's `outbox.id` (every document has an `organization`: no use there)
            makes = (expression_index, holding_index) if sparse else (expression_index,)
            wanted = [index for make in makes if (index := make(first[0]))]
            with self._lock:
                _create_missing(self._require_connection(), wanted)
        return created

    def validate_counting(self: SQLiteEngine, *a: Any, **kw: Any) -> None:
        validate(self, *a, **kw)
        _state["written"] += 1
        if _state["analysed"] >= 0 and _state["written"] >= max(_MIN_REANALYSE, _state["analysed"]):
            # inside the write's own transaction (the engine holds its lock): the statistics
            # commit or roll back with it
            _analyse(self._require_connection())

    SQLiteEngine._connect_sync = connect_with_id_index
    SQLiteEngine._create_index_sync = create_with_expression
    SQLiteEngine._translate_query_plan_with_multikey = translate_with_ranges
    SQLiteEngine._validate_document_against_unique_indexes = validate_counting
