"""The performance patch of mongoeco 4.11's SQLite engine: its planner's "does any document of
this collection hold X at this field" checks stop scanning the whole collection after every
write, and the scans that remain read less. Results never change.

Why: before planning a query or an update, the engine asks, per filter and sort field, whether
any stored document holds a Decimal128, bytes or `undefined` value there, whether the field is an
array, whether a dotted path crosses an array, whether a field holds another type than the
operand, whether all documents hold one scalar type at a sort field
(`SQLiteEngine._field_contains_tagged_value_type_in_collection`,
`_field_is_top_level_array_in_collection`, `_field_traverses_array_in_collection`,
`_field_has_comparison_type_mismatch_in_collection`,
`_field_has_uniform_scalar_sort_type_in_collection`). Each answer is a scan of every document of
the collection, cached only until the next write to it; a service that writes an appeal and then
reads or updates it paid the scans again every time, growing with the stored appeals.

Settled checks: every write path of the engine validates the written document against the unique
indexes first (`_validate_document_against_unique_indexes(db, coll, document, ...)`, on insert,
bulk insert, update, upsert, replace and findAndModify alike). The patch notes there, per
collection, the tagged types, the top-level array fields and the JSON type at every path of
every written document. The engine's own first answer to a check is kept while no document
written since this process started could have changed it (tested again at every lookup, so a
write noted during the engine's scan spoils it); a "yes" made stale by a delete only sends the
engine to its general (always exact) path. Once such a value is written, that check goes back to
the engine's own scan-and-invalidate behaviour. Renaming or dropping a collection or database
forgets every settled answer. Inserts skip the numeric `_id` scan for string and ObjectId ids.

Cheaper scans: the per-document `inspect.signature` of `_decode_codec_payload` is asked once per
codec function; a Python scan for a dotted `$exists: true` (the outbox sweep) reads only the
documents whose head field is an embedded document or a non-empty array, then matches them with
the engine's own filter.

More settled checks: `docstore_checks.py` (its docstring): a DBRef along a dotted path, an array
at a dotted path, and the sort's per-query row check.

Equality indexes: `docstore_index.py` (its docstring) adds SQLite expression indexes matching
mongoeco's own SQL for an equality on the first field of each declared index.

Proof: the conformance suite (`tests/store/`) runs against the patched process;
`test_written_later.py` and `test_written_later_planner.py` write each kind of value after a
first answer and check the query still gives MongoDB's result (each fails if the patch stops
noticing), `test_exists_scan.py` holds every shape beside the sweep's candidates.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from mongoeco.core.query_plan import AndCondition, ExistsCondition
from mongoeco.engines import sqlite as engine_module
from mongoeco.engines.sqlite import SQLiteEngine

_TAGGED_MARKS = {
    "decimal": '"type":"decimal',  # also matches decimal128 and decimal128_public
    "decimal128": '"type":"decimal128',
    "decimal128_public": '"type":"decimal128_public"',
    "bytes": '"type":"bytes"',
    "undefined": '"type":"undefined"',
}

# (db, coll, value_type) written since start; (db, coll, field) holding an array since start
_tagged_written: set[tuple[str, str, str]] = set()
_arrays_written: set[tuple[str, str, str]] = set()
# (db, coll, kind, field) -> the engine's answer while nothing of that kind was written
_settled: dict[tuple[str, str, str, str], Any] = {}
# documents written per (db, coll) since start, and per (db, coll, dotted path) how many of them
# held each JSON type there ("object:<tag>" for a tagged BSON value such as a datetime)
_docs_written: Counter[tuple[str, str]] = Counter()
_types_written: dict[tuple[str, str, str], Counter[str]] = {}

_PLAIN_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MARKER = engine_module.DocumentCodec._MARKER
# json_type()s each expected type of the engine's comparison and sort checks accepts
_ALLOWED = {"number": {"integer", "real"}, "string": {"text"}, "bool": {"true", "false"}}


def _json_type(value: Any) -> str:
    """SQLite's json_type() of a parsed JSON value; "object:<tag>" for a tagged BSON value."""
    if isinstance(value, dict):
        tag = value.get(_MARKER)
        return f"object:{tag.get('type')}" if isinstance(tag, dict) else "object"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return {int: "integer", float: "real", str: "text"}.get(type(value), "unknown")


def _note_types(db_name: str, coll_name: str, parsed: dict[str, Any], prefix: str = "") -> None:
    # json_type(document, '$.a.b') is NULL when `a` is an array: arrays are not descended
    for key, value in parsed.items():
        kind = _json_type(value)
        _types_written.setdefault((db_name, coll_name, prefix + key), Counter())[kind] += 1
        if kind == "object":
            _note_types(db_name, coll_name, value, prefix + key + ".")


def _written(db_name: str, coll_name: str, field: str) -> Counter[str]:
    return _types_written.get((db_name, coll_name, field), Counter())


def _any_document(
    engine: SQLiteEngine, db_name: str, coll_name: str, field: str, where: Callable[[str], str]
) -> bool:
    """Does any document of the collection satisfy `where(path)` (SQL over `document`, given the
    field's JSON path quoted as the engine quotes it)? One SQL scan, stopped at the first row."""
    path = "'" + engine_module.json_path_for_field(field).replace("'", "''") + "'"
    sql = f"SELECT 1 FROM documents WHERE db_name = ? AND coll_name = ? AND ({where(path)}) LIMIT 1"  # noqa: S608 - a quoted path
    return engine._require_connection().execute(sql, (db_name, coll_name)).fetchone() is not None


def _settle(key: tuple[str, str, str, str], spoilt: Callable[[Any], bool], compute: Callable[[], Any]) -> Any:
    """The engine's answer for `key`, kept while `spoilt(answer)` is false: a writer records what
    it wrote before writing, so spoilt after `compute` means the answer may already be stale."""
    if key in _settled:
        if not spoilt(_settled[key]):
            return _settled[key]
        _settled.pop(key, None)
    answer = compute()
    if not spoilt(answer):
        _settled[key] = answer
    return answer


def _settled_check(
    check: Callable[..., Any],
    kind: str,
    eligible: Callable[..., bool],
    spoilt: Callable[..., bool],
) -> Callable[..., bool]:
    """A yes/no feature check of the engine, `check(engine, db, coll, field, *extra)`, settled by
    `_settle`: while `eligible(field, *extra)`, its answer is kept under `kind` (and the extra
    arguments) until `spoilt(answer, db, coll, field, *extra)`; otherwise the engine answers."""

    def settled(self: SQLiteEngine, db_name: str, coll_name: str, field: str, *extra: Any) -> bool:
        if not eligible(field, *extra):
            return bool(check(self, db_name, coll_name, field, *extra))
        return bool(
            _settle(
                (db_name, coll_name, ":".join((kind, *map(str, extra))), field),
                lambda answer: spoilt(answer, db_name, coll_name, field, *extra),
                lambda: check(self, db_name, coll_name, field, *extra),
            )
        )

    return settled


def _note_written(engine: SQLiteEngine, db_name: str, coll_name: str, document: Any) -> None:
    for field, value in document.items():
        if isinstance(value, (list, tuple)):
            _arrays_written.add((db_name, coll_name, field))
    payload = engine._serialize_document(document)
    parsed = json.loads(payload)
    if isinstance(parsed, dict):
        _note_types(db_name, coll_name, parsed)
    _docs_written[(db_name, coll_name)] += 1
    if '"type":"' in payload:
        for value_type, mark in _TAGGED_MARKS.items():
            if mark in payload:
                _tagged_written.add((db_name, coll_name, value_type))


def _exact_id(value: Any) -> bool:
    return isinstance(value, str) or type(value).__name__ == "ObjectId"


def apply() -> None:
    """Install the patch on `SQLiteEngine` (idempotent). Raises nothing; call before serving."""
    if getattr(SQLiteEngine, "_platform_patched", False):
        return
    validate = SQLiteEngine._validate_document_against_unique_indexes
    tagged = SQLiteEngine._field_contains_tagged_value_type_in_collection
    array = SQLiteEngine._field_is_top_level_array_in_collection
    invalidate = SQLiteEngine._invalidate_collection_features_cache
    namespace_changes = {
        name: getattr(SQLiteEngine, name)
        for name in ("_rename_collection_sync", "_drop_collection_sync", "_drop_database_sync")
    }

    def validate_noting(
        self: SQLiteEngine, db_name: str, coll_name: str, document: Any, *a: Any, **kw: Any
    ) -> None:
        _note_written(self, db_name, coll_name, document)
        if kw.get("scan_payload_id") and _exact_id(document.get("_id")):
            # an insert compares its _id with every stored _id for numeric equality (1 == 1.0);
            # a string or ObjectId equals only itself, found by the storage-key lookup before it
            kw["scan_payload_id"] = False
        validate(self, db_name, coll_name, document, *a, **kw)

    def invalidate_all(self: SQLiteEngine, db_name: str | None = None, coll_name: str | None = None) -> None:
        if db_name is None or coll_name is None:  # a connect or disconnect
            _settled.clear()
        invalidate(self, db_name, coll_name)

    def forgetting(change: Any) -> Any:
        # a rename moves documents without writing them: forget every settled answer
        def run(self: SQLiteEngine, *a: Any, **kw: Any) -> Any:
            _settled.clear()
            try:
                return change(self, *a, **kw)
            finally:
                _settled.clear()

        return run

    _apply_feature_checks()
    _apply_decode_signature_cache()
    _apply_exists_prefilter()
    SQLiteEngine._validate_document_against_unique_indexes = validate_noting
    # a writer notes before it writes: noted during the engine's scan means the answer may be stale
    SQLiteEngine._field_contains_tagged_value_type_in_collection = _settled_check(
        tagged,
        "tagged",
        lambda field, value_type: value_type in _TAGGED_MARKS,
        lambda _, db, coll, field, value_type: (db, coll, value_type) in _tagged_written,
    )
    SQLiteEngine._field_is_top_level_array_in_collection = _settled_check(
        array,
        "array",
        lambda field: "." not in field,
        lambda _, db, coll, field: (db, coll, field) in _arrays_written,
    )
    SQLiteEngine._invalidate_collection_features_cache = invalidate_all
    for name, change in namespace_changes.items():
        setattr(SQLiteEngine, name, forgetting(change))
    # beside this file (the server runs these modules as scripts); imported here, not above:
    # both import this module's settling helpers
    import docstore_checks
    import docstore_index

    docstore_checks.apply()  # after the above: it wraps the array check installed there
    docstore_index.apply()  # last: it wraps the validation installed above
    SQLiteEngine._platform_patched = True


def _apply_feature_checks() -> None:
    """Settle the checks a query plan asks of its filter and sort fields: does a path cross an
    array, does a field hold a value of another type than the operand, do all documents hold one
    scalar type at a sort field. Each answer is the engine's own, kept while no document with a
    value that could change it has been written."""
    traverses = SQLiteEngine._field_traverses_array_in_collection
    mismatch = SQLiteEngine._field_has_comparison_type_mismatch_in_collection
    uniform = SQLiteEngine._field_has_uniform_scalar_sort_type_in_collection

    def uniform_settled(self: SQLiteEngine, db_name: str, coll_name: str, field: str) -> str | None:
        if not _PLAIN_PATH.fullmatch(field):
            engine_answer: str | None = uniform(self, db_name, coll_name, field)
            return engine_answer

        def spoilt(answer: str | None) -> bool:
            # "no one type" is kept only once a document written since start held a value no
            # scalar sort covers there (a datetime, a sub-document, an array): the engine's
            # answer is "no" for those, and a "no" made stale by deletes only forgoes its fast
            # path; otherwise not (an emptied collection may become uniform). A type is kept
            # while every document written since start held that type there
            if answer is None:
                return not any(
                    t == "array" or t.startswith("object") for t in _written(db_name, coll_name, field)
                )
            if answer not in _ALLOWED:
                return True
            held = sum(n for t, n in _written(db_name, coll_name, field).items() if t in _ALLOWED[answer])
            return held != _docs_written[(db_name, coll_name)]

        answer: str | None = _settle(
            (db_name, coll_name, "uniform_sort_type", field),
            spoilt,
            lambda: uniform(self, db_name, coll_name, field),
        )
        return answer

    SQLiteEngine._field_traverses_array_in_collection = _settled_check(
        traverses,
        "traverses_array",
        lambda field: bool(_PLAIN_PATH.fullmatch(field)),
        lambda _, db, coll, field: any(
            "array" in _written(db, coll, p) for p in engine_module.path_array_prefixes(field)
        ),
    )
    SQLiteEngine._field_has_comparison_type_mismatch_in_collection = _settled_check(
        mismatch,
        "mismatch",
        lambda field, expected: expected in _ALLOWED and bool(_PLAIN_PATH.fullmatch(field)),
        # json_type() of a tagged value is 'object'; a JSON null is a mismatch too
        lambda _, db, coll, field, expected: any(
            t.split(":")[0] not in _ALLOWED[expected] for t in _written(db, coll, field)
        ),
    )
    SQLiteEngine._field_has_uniform_scalar_sort_type_in_collection = uniform_settled


def _apply_decode_signature_cache() -> None:
    """Decode a stored document as the engine does, without its `inspect.signature` per document.

    `_decode_codec_payload` asks, for every document it decodes (every document of a Python
    scan), whether the codec's `decode` takes `preserve_bson_wrappers`; that question was half of
    a scan's time. The answer depends only on the function, so it is asked once per function."""
    accepts: dict[Any, bool] = {}

    def decode_payload(self: SQLiteEngine, payload: object, *, preserve_bson_wrappers: bool) -> Any:
        decode = self._codec.decode
        function = getattr(decode, "__func__", decode)
        if function not in accepts:
            try:
                parameters: Any = inspect.signature(decode).parameters
            except (TypeError, ValueError):
                parameters = {}
            accepts[function] = "preserve_bson_wrappers" in parameters
        if not accepts[function]:
            return decode(payload)
        return decode(payload, preserve_bson_wrappers=preserve_bson_wrappers)

    SQLiteEngine._decode_codec_payload = decode_payload


def _exists_prefilter(plan: Any) -> str | None:
    """SQL a document must satisfy to match `plan`, when the plan requires `{"a.b": {$exists:
    true}}` (alone or in a top-level $and): `a` is an embedded document or a non-empty array.
    None for any other plan."""
    for clause in plan.clauses if isinstance(plan, AndCondition) else (plan,):
        if (
            isinstance(clause, ExistsCondition)
            and clause.value is True
            and _PLAIN_PATH.fullmatch(clause.field)
        ):
            head = clause.field.split(".")[0]
            if head == clause.field:
                continue
            return holds_something(head)
    return None


def holds_something(head: str) -> str:
    """SQL true when the document's `head` (a plain field name) is an embedded document or a
    non-empty array: `_exists_prefilter`'s condition, and the WHERE of docstore_index's partial
    index that lets SQLite seek it (the same text, so SQLite sees the query implies it)."""
    path = "'" + engine_module.json_path_for_field(head).replace("'", "''") + "'"
    return f"(json_type(document, {path}) = 'object' OR json_array_length(document, {path}) > 0)"


def _apply_exists_prefilter() -> None:
    """Read only the candidates of a Python scan for a dotted `$exists: true`.

    `{"outbox.id": {"$exists": true}}` (every service's outbox sweep, every 2 s) crosses an array,
    so the engine matches it in Python over every document of the collection, decoding each. A
    document whose `outbox` is missing, a scalar or an empty array cannot match, so the scan's
    source leaves those out in SQL; every remaining document is still matched by the engine's
    own Python filter, in the same (storage-key index) order, so the result is unchanged."""
    open_scan = SQLiteEngine._open_scan_documents_sync
    load_documents = SQLiteEngine._load_documents
    pending = threading.local()  # (db, coll, sql) for the scan this thread is opening

    def open_scan_prefiltered(self: SQLiteEngine, reader: Any) -> Any:
        semantics = reader.semantics
        prefilter = _exists_prefilter(semantics.query_plan) if semantics.text_query is None else None
        pending.value = None if prefilter is None else (reader.db_name, reader.coll_name, prefilter)
        try:
            return open_scan(self, reader)
        finally:
            pending.value = None

    def load_candidates(self: SQLiteEngine, db_name: str, coll_name: str, prefilter: str) -> Any:
        cursor = self._require_connection().execute(
            f"SELECT storage_key, document FROM documents WHERE db_name = ? AND coll_name = ? AND {prefilter}",  # noqa: S608 - a plain path quoted as the engine quotes it
            (db_name, coll_name),
        )
        try:
            for storage_key, document in cursor:
                yield storage_key, self._deserialize_document(document)
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed with the engine, as its own
                cursor.close()

    def load(self: SQLiteEngine, db_name: str, coll_name: str) -> Any:
        wanted = getattr(pending, "value", None)
        if wanted is None or wanted[:2] != (db_name, coll_name):
            return load_documents(self, db_name, coll_name)
        pending.value = None  # the one source of the scan being opened
        return load_candidates(self, db_name, coll_name, wanted[2])

    SQLiteEngine._open_scan_documents_sync = open_scan_prefiltered
    SQLiteEngine._load_documents = load
