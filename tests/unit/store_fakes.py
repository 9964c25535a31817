"""Store stand-ins for unit tests: a database that records what each collection was asked."""

from __future__ import annotations

from typing import Any


class CountingDb:
    """Stands between code and its database: each method asked of a collection is recorded in
    `calls` as "<collection>.<method>", then answered by the real (in-memory) collection."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.calls: list[str] = []

    def __getitem__(self, name: str) -> Any:
        collection, calls = self._db[name], self.calls

        class Counted:
            def __getattr__(self, method: str) -> Any:
                calls.append(f"{name}.{method}")
                return getattr(collection, method)

        return Counted()
