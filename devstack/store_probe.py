"""Probe: do the services' hot store operations stay flat as the local store's data grows?

Starts one local store process (`devstack.docstore.DocStore`, patched as `make run` runs it) on a
free port with its data in a temporary folder, then, at each size (documents per collection),
runs `--rounds` rounds of the services' operations *interleaved with writes*, as the services do
them: insert an appeal, read it by `_id`, the aggregate's guarded `update_one` (`version`,
`applied: {$ne}`, `$set/$inc/$push` of an outbox entry) and the outbox `$pull`, a counter's
`find_one_and_update` upsert, routing's repeat check (`$or` of its duplicate and answered
branches) and cluster query, the outbox sweep's
`outbox.id` `$exists`, the deadlines' lease `$or` query, notify's feed `insert_many`.

Prints, per size, each operation's median client latency (ms) and the store process's CPU per
round (ms, from /proc). `--mark FILE` writes the store's pid to FILE before the last size's
rounds, for a profiler to attach (`py-spy record --pid`). Usage: .venv/bin/python -m devstack.store_probe --sizes 150,1500,3000
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.database import Database

from devstack.docstore import DocStore

TOPICS = ["roads", "lighting", "waste", "parks", "water"]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_ms(pid: int) -> float:
    """User + system CPU of `pid` so far, in ms (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _appeal(i: int) -> dict[str, Any]:
    return {
        "_id": str(uuid.uuid4()),
        "number": f"2026-{i:07d}",  # the services' unique indexes are on strings
        "author_id": f"u{i % 97}",
        "created_at": NOW - timedelta(minutes=i),
        "status": "submitted",
        "organization": {"id": f"org{i % 7}", "name": "Org"},
        "due_at": NOW + timedelta(days=3),
        "media_ids": [],
        "text": "Яма на дороге у дома " + str(i),
        "idempotency_scope": f"u{i % 97}:{uuid.uuid4()}",
        "version": 1,
        "applied": [],
        "outbox": [],
    }


def _assignment(i: int, appeal_id: str) -> dict[str, Any]:
    doc = {
        "_id": appeal_id,
        "number": f"2026-{i:07d}",
        "author_id": f"u{i % 97}",
        "resident": f"u{i % 97}",
        "fingerprint": f"fp{i % 301}",
        "status": "routed",
        "topic": TOPICS[i % len(TOPICS)],
        "submitted_at": NOW - timedelta(minutes=i),
        "location": {"lat": 55.7 + (i % 50) * 0.001, "lon": 37.6 + (i % 40) * 0.001, "address": "ул. Ленина"},
        "organization": {"id": f"org{i % 7}"},
        "cluster_id": None,
    }
    if i % 4 == 0:  # a quarter answered, as the repeat check's second branch finds them
        doc["answered_at"] = NOW - timedelta(minutes=i) + timedelta(hours=5)
    return doc


def _clock(i: int, appeal_id: str) -> dict[str, Any]:
    return {
        "_id": appeal_id,
        "next_due_at": NOW + timedelta(hours=1 + i % 100),
        "assignments": [{"org": f"org{i % 7}", "received_at": NOW - timedelta(minutes=i)}],
        "updated_at": NOW,
    }


def _feed_item(i: int, owner: str) -> dict[str, Any]:
    return {
        "_id": str(uuid.uuid4()),
        "owner": owner,
        "created_at": NOW - timedelta(seconds=i),
        "read_by": [],
        "title": f"Appeal {i} answered",
    }


def ensure_indexes(db: Database[Any]) -> None:
    """The services' indexes on the probed collections (intake, routing, deadlines, notify, outbox)."""
    db.appeals.create_index("number", unique=True)
    db.appeals.create_index("idempotency_scope", unique=True, sparse=True)
    db.appeals.create_index([("author_id", ASCENDING), ("created_at", DESCENDING)])
    db.appeals.create_index([("organization.id", ASCENDING), ("status", ASCENDING), ("due_at", ASCENDING)])
    db.appeals.create_index("media_ids")
    db.appeals.create_index("outbox.id", sparse=True)
    db.assignments.create_index(
        [("author_id", ASCENDING), ("fingerprint", ASCENDING), ("submitted_at", DESCENDING)]
    )
    db.assignments.create_index([("status", ASCENDING), ("submitted_at", ASCENDING)])
    db.assignments.create_index([("organization.id", ASCENDING), ("cluster_id", ASCENDING)])
    db.assignments.create_index([("resident", ASCENDING), ("topic", ASCENDING), ("answered_at", DESCENDING)])
    db.assignments.create_index([("topic", ASCENDING), ("submitted_at", ASCENDING)])
    db.clocks.create_index([("next_due_at", ASCENDING)], sparse=True)
    db.clocks.create_index("assignments.received_at")
    db.feed.create_index([("owner", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
    db.feed.create_index([("owner", ASCENDING), ("read_by", ASCENDING)])


def fill(db: Database[Any], start: int, stop: int) -> None:
    """Documents `start..stop-1` into each probed collection, in batches of 500."""
    for low in range(start, stop, 500):
        high = min(stop, low + 500)
        appeals = [_appeal(i) for i in range(low, high)]
        db.appeals.insert_many(appeals)
        db.assignments.insert_many(
            [_assignment(i, a["_id"]) for i, a in zip(range(low, high), appeals, strict=True)]
        )
        db.clocks.insert_many([_clock(i, a["_id"]) for i, a in zip(range(low, high), appeals, strict=True)])
        db.feed.insert_many([_feed_item(i, f"u{i % 97}") for i in range(low, high)])


def one_round(db: Database[Any], i: int, timed: Callable[[str, Callable[[], Any]], Any]) -> None:
    """One appeal's way through the services' store operations, each timed under its name."""
    appeal = _appeal(i)
    timed("insert appeal", lambda: db.appeals.insert_one(appeal))
    timed("find_one _id", lambda: db.appeals.find_one({"_id": appeal["_id"]}))
    event = str(uuid.uuid4())
    entry = {"id": str(uuid.uuid4()), "type": "appeal.routed", "body": {"n": i}}
    guarded = {"_id": appeal["_id"], "version": 1, "applied": {"$ne": event}}
    change = {
        "$set": {"status": "routed"},
        "$inc": {"version": 1},
        "$push": {"outbox": entry, "applied": event},
    }
    timed("guarded update_one", lambda: db.appeals.update_one(guarded, change))
    timed(
        "outbox $pull",
        lambda: db.appeals.update_one(
            {"_id": appeal["_id"]}, {"$pull": {"outbox": {"id": {"$in": [entry["id"]]}}}}
        ),
    )
    timed(
        "counter find_one_and_update",
        lambda: db.counters.find_one_and_update(
            {"_id": "appeal_number"}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        ),
    )
    assignment = _assignment(i, appeal["_id"])
    timed("insert assignment", lambda: db.assignments.insert_one(assignment))
    # routing's lookup (services/routing/earlier.py): the duplicate and the answered branches
    at = assignment["submitted_at"]
    duplicate = {
        "author_id": assignment["author_id"],
        "fingerprint": assignment["fingerprint"],
        "status": {"$in": ["routed", "held"]},
        "answered_at": {"$exists": False},
        "submitted_at": {"$gte": at - timedelta(minutes=10)},
        "_id": {"$ne": appeal["_id"]},
    }
    answered = {
        "resident": assignment["resident"],
        "topic": assignment["topic"],
        "answered_at": {"$gte": at - timedelta(days=90)},
        "_id": {"$ne": appeal["_id"]},
    }
    fields = {"number": 1, "location": 1, "organization": 1, "answered_at": 1, "submitted_at": 1}
    repeat = {"$or": [duplicate, answered]}
    timed("find repeat $or", lambda: list(db.assignments.find(repeat, fields)))
    lat, lon = assignment["location"]["lat"], assignment["location"]["lon"]
    near = {  # services/routing/clusters.py
        "_id": {"$ne": appeal["_id"]},
        "topic": assignment["topic"],
        "status": "routed",
        "submitted_at": {"$gte": at - timedelta(days=2), "$lte": at + timedelta(days=2)},
        "location.lat": {"$gte": lat - 0.003, "$lte": lat + 0.003},
        "location.lon": {"$gte": lon - 0.005, "$lte": lon + 0.005},
    }
    timed(
        "find cluster",
        lambda: list(db.assignments.find(near, {"location": 1, "cluster_id": 1, "submitted_at": 1})),
    )
    timed(
        "find outbox.id $exists", lambda: list(db.appeals.find({"outbox.id": {"$exists": True}}, {"_id": 1}))
    )
    clock = _clock(i, appeal["_id"])
    timed("insert clock", lambda: db.clocks.insert_one(clock))
    free = [{"lease_until": {"$exists": False}}, {"lease_until": {"$lte": NOW}}]
    due = {"next_due_at": {"$lte": NOW + timedelta(minutes=30)}, "$or": free}
    timed(
        "find $or next_due_at",
        lambda: list(db.clocks.find(due, {"_id": 1}).sort("next_due_at", ASCENDING).limit(50)),
    )
    items = [_feed_item(i * 3 + k, f"u{(i + k) % 97}") for k in range(3)]
    timed("feed insert_many", lambda: db.feed.insert_many(items, ordered=False))


def probe(sizes: list[int], rounds: int, mark: Path | None) -> None:
    """Run the probe at each size; prints a table (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="store-probe-") as folder:
        store = DocStore(Path(folder) / "store.sqlite", _free_port())
        store.start()
        assert store.process is not None
        pid = store.process.pid
        client: MongoClient[Any] = MongoClient(store.url, tz_aware=True)
        try:
            db = client["probe"]
            ensure_indexes(db)
            have, table, cpu = 0, {}, {}
            for size in sizes:
                fill(db, have, size)
                have = size
                if mark and size == sizes[-1]:
                    mark.write_text(str(pid))  # a profiler waiting for it attaches now
                samples: dict[str, list[float]] = defaultdict(list)

                def timed(name: str, call: Callable[[], Any], into: dict[str, list[float]] = samples) -> Any:
                    began = time.perf_counter()
                    result = call()
                    into[name].append((time.perf_counter() - began) * 1000)
                    return result

                began_cpu = _cpu_ms(pid)
                for r in range(rounds):
                    one_round(db, 10_000_000 + size * 1000 + r, timed)
                cpu[size] = (_cpu_ms(pid) - began_cpu) / rounds
                table[size] = {name: statistics.median(values) for name, values in samples.items()}
                print(f"size {size}: store CPU {cpu[size]:.1f} ms/round", flush=True)
        finally:
            client.close()
            store.stop()
    names = list(table[sizes[0]])
    print(f"\n{'operation (median ms)':32}" + "".join(f"{s:>9}" for s in sizes))
    for name in names:
        print(f"{name:32}" + "".join(f"{table[s][name]:9.1f}" for s in sizes))
    print(f"{'store CPU per round (ms)':32}" + "".join(f"{cpu[s]:9.1f}" for s in sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="150,1500,3000", help="documents per collection, ascending")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--mark", type=Path, help="write the store's pid here before the last size's rounds")
    args = parser.parse_args()
    probe([int(s) for s in args.sizes.split(",")], args.rounds, args.mark)


if __name__ == "__main__":
    main()
