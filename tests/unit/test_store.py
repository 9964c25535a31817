import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from libs.common.store import open_store


async def test_in_memory_store_offers_the_async_api_subset() -> None:
    store = open_store(None, "unit")
    assert not store.durable
    assert await store.ping()
    items = store.db["items"]
    await items.create_index("key", unique=True, sparse=True)
    await items.insert_one({"_id": 1, "key": "a", "n": 1})
    await items.insert_one({"_id": 2, "n": 5})
    with pytest.raises(DuplicateKeyError):
        await items.insert_one({"_id": 3, "key": "a"})
    updated = await items.find_one_and_update(
        {"_id": 1}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
    )
    assert updated["n"] == 2
    assert [doc["_id"] async for doc in items.find({}).sort("n", -1)] == [2, 1]
    assert await items.find({"n": {"$gt": 1}}).to_list(None) == [
        {"_id": 1, "key": "a", "n": 2},
        {"_id": 2, "n": 5},
    ]
    assert await items.count_documents({"key": "a"}) == 1


async def test_conditional_update_claims_once() -> None:
    timers = open_store(None, "unit2").db["timers"]
    await timers.insert_one({"_id": "t", "state": "armed"})
    first = await timers.find_one_and_update({"_id": "t", "state": "armed"}, {"$set": {"state": "fired"}})
    second = await timers.find_one_and_update({"_id": "t", "state": "armed"}, {"$set": {"state": "fired"}})
    assert first is not None
    assert second is None


async def test_aggregate_is_awaited_like_pymongo_async() -> None:
    items = open_store(None, "unit3").db["items"]
    await items.insert_many([{"s": "a"}, {"s": "a"}, {"s": "b"}])
    cursor = await items.aggregate([{"$group": {"_id": "$s", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert [(row["_id"], row["n"]) async for row in cursor] == [("a", 2), ("b", 1)]
