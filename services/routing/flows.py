"""Routing use cases: seed the catalogue, decide who answers, store the decision + its event."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pymongo.errors import DuplicateKeyError

from libs.common.clock import Clock
from libs.common.events import AppealRoutedV1, AppealSubmittedV1, Envelope, EventType, OrganizationRef
from libs.common.logging import get_logger
from libs.common.outbox import OutboxRelay, outbox_entry
from libs.common.store import Database
from services.routing.schemas import Catalogue
from services.routing.service import decide

log = get_logger(__name__)

ASSIGNMENTS = "assignments"
ORGANIZATIONS = "organizations"
TOPICS = "topics"
META = "catalogue_meta"


class CatalogueStore:
    """The catalogue lives in routing's own store; the data file seeds it idempotently."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cached: Catalogue | None = None

    async def load_file(self, path: Path) -> Catalogue:
        raw = await asyncio.to_thread(path.read_text, encoding="utf-8")
        catalogue = Catalogue.model_validate_json(raw)
        for org in catalogue.organizations:
            await self._db[ORGANIZATIONS].replace_one({"_id": org.id}, org.model_dump(), upsert=True)
        for topic in catalogue.topics:
            await self._db[TOPICS].replace_one({"_id": topic.code}, topic.model_dump(), upsert=True)
        meta = catalogue.model_dump(include={"region", "default_organization", "timezone"})
        await self._db[META].replace_one({"_id": "region"}, meta, upsert=True)
        self._cached = None
        log.info("catalogue loaded", topics=len(catalogue.topics), organizations=len(catalogue.organizations))
        return catalogue

    async def current(self) -> Catalogue:
        if self._cached is None:
            meta = await self._db[META].find_one({"_id": "region"}) or {}
            organizations = await self._db[ORGANIZATIONS].find({}, {"_id": 0}).to_list(None)
            topics = await self._db[TOPICS].find({}, {"_id": 0}).sort("code").to_list(None)
            self._cached = Catalogue.model_validate(
                {
                    **{k: v for k, v in meta.items() if k != "_id"},
                    "organizations": organizations,
                    "topics": topics,
                }
            )
        return self._cached


class RoutingFlows:
    def __init__(self, db: Database, catalogue: CatalogueStore, relay: OutboxRelay, clock: Clock) -> None:
        self._db = db
        self._catalogue = catalogue
        self._relay = relay
        self._clock = clock

    async def route_submitted(self, envelope: Envelope, appeal: AppealSubmittedV1) -> None:
        decision = decide(await self._catalogue.current(), appeal.topic)
        now = self._clock()
        routed = AppealRoutedV1(
            appeal_id=appeal.appeal_id,
            number=appeal.number,
            topic=appeal.topic,
            organization=OrganizationRef(id=decision.organization.id, name=decision.organization.name),
            rule=decision.rule,
            answer_sla_days=decision.answer_sla_days,
            first_response_sla_hours=decision.first_response_sla_hours
            if appeal.channel == "social"
            else None,
            timezone=decision.timezone,
            channel=appeal.channel,
            routed_at=now,
        )
        event = outbox_entry(
            EventType.APPEAL_ROUTED,
            routed,
            source="routing",
            subject=appeal.appeal_id,
            correlation_id=envelope.correlation_id,
        )
        try:
            # One assignment per appeal: the unique _id makes a redelivered event a no-op.
            await self._db[ASSIGNMENTS].insert_one(
                {
                    "_id": appeal.appeal_id,
                    "number": appeal.number,
                    "topic": appeal.topic,
                    "organization_id": decision.organization.id,
                    "rule": decision.rule,
                    "decided_at": now,
                    "source_event": envelope.id,
                    "history": [
                        {"at": now, "organization_id": decision.organization.id, "rule": decision.rule}
                    ],
                    "outbox": [event],
                }
            )
            log.info("appeal routed", organization_id=decision.organization.id, rule=decision.rule)
        except DuplicateKeyError:
            log.info("appeal already routed; re-publishing any pending event")
        await self._relay.flush(ASSIGNMENTS, appeal.appeal_id)
