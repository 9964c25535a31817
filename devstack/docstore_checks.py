"""Part of the store's performance patch (`docstore_patch.apply` installs it): three more of the
planner's per-query checks are settled the way `docstore_patch` settles the others.

Each was a scan of the whole collection before every query after any write to it (the engine
caches it only until the next write):

- `_field_traverses_dbref_in_collection(field)`, for a dotted filter field (`location.lat`):
  does any document hold a DBRef at a prefix of the path (`location`)?
- `_field_is_top_level_array_in_collection(field)` for a dotted field: does any document hold an
  array at exactly that path? (`docstore_patch` settles only top-level fields.)
- the row check of `_sort_requires_python` (a sorted query): does any document *matching the
  filter* hold an array, a plain sub-document or a numeric tagged value (int64, Decimal128) at a
  sort field? It ran the whole filter in SQL a second time, on every sorted query. The patch asks
  instead whether any document of the collection holds one there: if none does, none of the
  filter's matches does either, so the engine's own function runs with that row check answered
  "no"; otherwise the engine's function runs unchanged.

Each answer is the engine's own (or the collection-wide SQL above), kept while no document
written since the store started held such a value at that path (`docstore_patch._written`: the
JSON type of every path of every written document, arrays not descended, as SQLite's
`json_type` does not descend them). A "yes" is kept too: it only sends the engine to its general,
always exact, path. Renames and drops forget every settled answer (`docstore_patch`).
"""

from __future__ import annotations

from typing import Any

from docstore_patch import _PLAIN_PATH, _any_document, _settle, _settled_check, _written
from mongoeco.engines import sqlite as engine_module
from mongoeco.engines.sqlite import SQLiteEngine

# written types at a sort field that the engine's row check looks for: an array, a plain
# sub-document (no or an untyped tag: type expression ''), a numeric tagged value
_SORT_HOLDERS = {"array", "object", "object:None"} | {
    "object:" + tag for tag in ("int64", "decimal", "decimal128", "decimal128_public")
}


def _prefixes(field: str) -> list[str]:
    parts = field.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts))]


def _holds_sort_unsafe(self: SQLiteEngine, db_name: str, coll_name: str, field: str) -> bool:
    """Does any document of the collection hold at `field` what the engine's sort row check
    looks for (its SQL, without the filter)? Settled while no such value is written."""

    def compute() -> bool:
        return bool(
            _any_document(
                self,
                db_name,
                coll_name,
                field,
                lambda path: (
                    f"""json_type(document, {path}) = 'array'
                OR (json_type(document, {path}) = 'object'
                    AND {engine_module.type_expression_sql(field)} IN (
                        '', 'int64', 'decimal', 'decimal128', 'decimal128_public'))"""
                ),
            )
        )

    return bool(
        _settle(
            (db_name, coll_name, "sort_holder", field),
            lambda answer: not answer and bool(_SORT_HOLDERS & set(_written(db_name, coll_name, field))),
            compute,
        )
    )


def apply() -> None:
    """Install the three settled checks on `SQLiteEngine`; call once, after `docstore_patch`'s
    own (it wraps the top-level array check installed there). Raises nothing."""
    dbref = SQLiteEngine._field_traverses_dbref_in_collection
    array = SQLiteEngine._field_is_top_level_array_in_collection
    sort_requires_python = SQLiteEngine._sort_requires_python

    def sort_settled(self: SQLiteEngine, db_name: str, coll_name: str, plan: Any, sort: Any) -> bool:
        fields = [field for field, _direction in sort] if sort else []
        if (
            not fields
            or not all(isinstance(f, str) and _PLAIN_PATH.fullmatch(f) for f in fields)
            or any(_holds_sort_unsafe(self, db_name, coll_name, f) for f in fields)
        ):
            return bool(sort_requires_python(self, db_name, coll_name, plan, sort))
        # the engine's own function (sqlite.py `_sort_requires_python`), its row check answered
        return bool(
            engine_module._sqlite_sort_requires_python(
                db_name=db_name,
                coll_name=coll_name,
                plan=plan,
                sort=sort,
                plan_has_array_traversing_paths=self._plan_has_array_traversing_paths,
                translate_query_plan=engine_module.translate_query_plan,
                field_traverses_array_in_collection=self._field_traverses_array_in_collection,
                field_contains_tagged_bytes_in_collection=self._field_contains_tagged_bytes_in_collection,
                field_contains_tagged_undefined_in_collection=self._field_contains_tagged_undefined_in_collection,
                fetchone=lambda _sql, _params: None,
                type_expression_sql=engine_module.type_expression_sql,
                json_path_for_field=engine_module.json_path_for_field,
            )
        )

    def dotted(field: str) -> bool:
        return "." in field and bool(_PLAIN_PATH.fullmatch(field))

    SQLiteEngine._field_traverses_dbref_in_collection = _settled_check(
        dbref,
        "traverses_dbref",
        dotted,
        lambda answer, db, coll, field: (
            not answer and any("object:dbref" in _written(db, coll, p) for p in _prefixes(field))
        ),
    )
    # dotted fields here; top-level ones go on to docstore_patch's settled check
    SQLiteEngine._field_is_top_level_array_in_collection = _settled_check(
        array,
        "dotted_array",
        dotted,
        lambda answer, db, coll, field: not answer and "array" in _written(db, coll, field),
    )
    SQLiteEngine._sort_requires_python = sort_settled
