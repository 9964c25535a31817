"""A run's databases in the store: each service keeps its own, named `<namespace>_<service>`
(libs/common/store.py); a finished run removes them from a durable store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient

from devstack.stack import SERVICES


def database_name(namespace: str, service: str) -> str:
    return f"{namespace}_{service}"


async def drop_databases(mongo_url: str, namespace: str, services: Sequence[str] = SERVICES) -> None:
    """Remove the run's databases. Raises PyMongoError when the store is away (5 s to find it)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    try:
        for service in services:
            await client.drop_database(database_name(namespace, service))
    finally:
        await client.close()
