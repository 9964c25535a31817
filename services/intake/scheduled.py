"""Intake's periodic work: the appeal gauges for /metrics (the outbox sweep runs in the runtime)."""

from __future__ import annotations

from prometheus_client import Gauge

from libs.common.periodic import every
from libs.common.store import Database
from services.intake.records import APPEALS
from services.intake.schemas import AppealStatus

APPEALS_BY_STATUS = Gauge("appeals_by_status", "Appeals by lifecycle status", ["status"])
APPEALS_OVERDUE = Gauge("appeals_overdue", "Open appeals past their answer deadline")


async def refresh_gauges(db: Database) -> None:
    counts = {str(status): 0 for status in AppealStatus}
    rows = await db[APPEALS].aggregate([{"$group": {"_id": "$status", "count": {"$sum": 1}}}])
    async for row in rows:
        counts[str(row["_id"])] = int(row["count"])
    for status, count in counts.items():
        APPEALS_BY_STATUS.labels(status).set(count)
    APPEALS_OVERDUE.set(
        await db[APPEALS].count_documents({"overdue": True, "status": {"$nin": ["closed", "rejected"]}})
    )


async def gauge_loop(db: Database, interval: float) -> None:
    await every(interval, lambda: refresh_gauges(db), name="appeal gauges")
