"""One performance patch of mongoeco 4.11's SQLite engine: its "does any document of this collection
hold X at this field" checks stop scanning the whole collection after every write.

Why: before planning a query or an update, the engine asks, per filter field, whether any stored
document holds a Decimal128, bytes or `undefined` value there, and whether the field is an array
(`SQLiteEngine._field_contains_tagged_value_type_in_collection`,
`_field_is_top_level_array_in_collection`). Each answer is a `json_extract` scan of every document
of the collection, cached only until the next write to that collection. A service that writes an
appeal and then reads or updates it pays the scan again every time: measured under `make bench`
these two checks were a quarter of the store's CPU, and they are why each write grew with the
number of stored appeals.

What changes: every write path of the engine validates the written document against the unique
indexes first (`_validate_document_against_unique_indexes(db, coll, document, ...)`, on insert,
bulk insert, update, upsert, replace and findAndModify alike). This patch notes there, per
collection, which tagged types and which top-level array fields any written document carried.
While a collection has never been written a value of the kind asked about since this process
started, the first answer of the engine's own check stays true for as long as the process runs:
nothing written since could have changed it from "no" to "yes", and a "yes" made stale by a
delete only sends the engine to its general (always exact) path. Once such a value is written,
that check goes back to the engine's own scan-and-invalidate behaviour for that collection.
Renaming or dropping a collection or database forgets every settled answer. Semantics are unchanged: the
conformance suite (`tests/store/`) runs against the patched process, and `tests/store/test_patch.py`
writes each kind of value after a first "no" and checks the query still finds it.
"""

from __future__ import annotations

from typing import Any

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
_settled: dict[tuple[str, str, str, str], bool] = {}


def _note_written(engine: SQLiteEngine, db_name: str, coll_name: str, document: Any) -> None:
    for field, value in document.items():
        if isinstance(value, (list, tuple)):
            _arrays_written.add((db_name, coll_name, field))
    payload = engine._serialize_document(document)
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

    def tagged_settled(self: SQLiteEngine, db_name: str, coll_name: str, field: str, value_type: str) -> bool:
        if value_type not in _TAGGED_MARKS or (db_name, coll_name, value_type) in _tagged_written:
            return bool(tagged(self, db_name, coll_name, field, value_type))
        key = (db_name, coll_name, "tagged:" + value_type, field)
        if key in _settled:
            return _settled[key]
        answer = bool(tagged(self, db_name, coll_name, field, value_type))
        # a writer notes before it writes: noted during the scan means the answer may be stale
        if (db_name, coll_name, value_type) not in _tagged_written:
            _settled[key] = answer
        return answer

    def array_settled(self: SQLiteEngine, db_name: str, coll_name: str, field: str) -> bool:
        if "." in field or (db_name, coll_name, field) in _arrays_written:
            return bool(array(self, db_name, coll_name, field))
        key = (db_name, coll_name, "array", field)
        if key in _settled:
            return _settled[key]
        answer = bool(array(self, db_name, coll_name, field))
        if (db_name, coll_name, field) not in _arrays_written:
            _settled[key] = answer
        return answer

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

    SQLiteEngine._validate_document_against_unique_indexes = validate_noting
    SQLiteEngine._field_contains_tagged_value_type_in_collection = tagged_settled
    SQLiteEngine._field_is_top_level_array_in_collection = array_settled
    SQLiteEngine._invalidate_collection_features_cache = invalidate_all
    for name, change in namespace_changes.items():
        setattr(SQLiteEngine, name, forgetting(change))
    SQLiteEngine._platform_patched = True
