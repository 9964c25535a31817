"""The local store's change delivery runs once per short interval, not after every write
(devstack/docstore_dispatch.py): every committed change is still delivered, in order, and the
durable change log is still compacted. Read from the store's SQLite file itself (read-only), since
the wire server offers no change streams (`$changeStream` is refused)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from devstack.docstore import DocStore
from devstack.stack import free_port
from tests.infra import eventually


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocStore]:
    process = DocStore(tmp_path / "store.sqlite", free_port())
    process.start()
    try:
        yield process
    finally:
        process.stop()


def change_log(path: Path) -> tuple[int, list[int]]:
    """(entries in the change log, the checkpoint of each consumer) as the file holds them now."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        entries = connection.execute("SELECT COUNT(*) FROM change_outbox").fetchone()[0]
        checkpoints = [row[0] for row in connection.execute("SELECT checkpoint FROM change_outbox_consumers")]
    return int(entries), checkpoints


async def test_every_write_is_delivered_and_the_change_log_compacted(store: DocStore) -> None:
    with MongoClient(store.url) as client:
        things = client["delivery"]["things"]
        for n in range(30):
            things.insert_one({"_id": n})
        things.update_one({"_id": 0}, {"$set": {"seen": True}})
        things.delete_one({"_id": 1})
        with pytest.raises(OperationFailure):  # no change streams here: nothing else reads the log
            things.watch().close()

        async def caught_up() -> bool:
            entries, checkpoints = change_log(store.path)
            return entries == 0 and checkpoints == [32]  # 32 changes delivered, then compacted

        await eventually(caught_up, timeout=10, interval=0.05)
        assert things.count_documents({}) == 29 and things.find_one({"_id": 0}) == {"_id": 0, "seen": True}


def test_the_outbox_sweep_seeks_the_documents_holding_entries(store: DocStore) -> None:
    """The sweep's candidates (`{"outbox.id": {"$exists": true}}`, every 2 s in every service) come
    from a partial index of the documents whose `outbox` holds something, made when the services
    declare their `outbox.id` index (devstack/docstore_index.py): SQLite's plan for the patch's
    query, built from that index's own condition, reads the index instead of every document."""
    with MongoClient(store.url) as client:
        appeals = client["sweep"]["appeals"]
        appeals.create_index("outbox.id", sparse=True)
        appeals.insert_many([{"_id": n, "outbox": [{"id": f"e{n}"}] if n == 7 else []} for n in range(50)])
    with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True) as connection:
        (name, sql), *others = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '%) WHERE %$.outbox%'"
        ).fetchall()
        assert not others
        condition = sql.split(" WHERE ", 1)[1]
        query = f"SELECT storage_key FROM documents WHERE db_name = ? AND coll_name = ? AND {condition}"  # noqa: S608
        plan = " ".join(
            row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {query}", ("sweep", "appeals"))
        )
        assert name in plan, plan
        holding = connection.execute(query, ("sweep", "appeals")).fetchall()
    assert len(holding) == 1 and "7" in holding[0][0]
