"""The regional control centre's queue (`needs_triage`) and its one-step decisions.

Two kinds of appeal wait there (`triage` in the assignment): one every candidate refused
(`exhausted`: the centre names the organisation, a reassignment that keeps the due date) and a raw
social-media post the classifier was not sure about (`classification`: the centre sets topic and
place, and the post is routed like any other; or dismisses it, and it is rejected).
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING

from libs.common.aggregate import Change
from libs.common.clock import Clock
from libs.common.contracts.routing import (
    AssignmentStatus,
    AssignmentView,
    TriageDecisionIn,
    TriageKind,
    TriagePlaceIn,
)
from libs.common.events import RoutingReason
from libs.common.http import Problem
from libs.common.store import Database, Document
from services.routing.catalogue import CatalogueStore
from services.routing.classify import classifier
from services.routing.clusters import ClusterFlows
from services.routing.flows import RoutingFlows
from services.routing.moderation import ReasonCode
from services.routing.records import (
    ASSIGNMENTS,
    HIDDEN,
    Assignment,
    AssignmentStep,
    Decision,
    rejected,
    routed,
)
from services.routing.service import CompiledCatalogue


class TriageFlows:
    def __init__(self, flows: RoutingFlows, catalogue: CatalogueStore, clusters: ClusterFlows) -> None:
        self._db: Database = flows.db
        self._clock: Clock = flows.clock
        self._catalogue = catalogue
        self._flows = flows
        self._clusters = clusters

    async def queue(self, limit: int, offset: int) -> tuple[list[Document], int]:
        """Oldest first: `decided_at` for refused appeals, `submitted_at` for unclassified posts."""
        query = {"status": AssignmentStatus.NEEDS_TRIAGE}
        total = await self._db[ASSIGNMENTS].count_documents(query)
        cursor = self._db[ASSIGNMENTS].find(query, HIDDEN).sort("submitted_at", ASCENDING)
        items = await cursor.skip(offset).limit(limit).to_list(limit)
        return [{**doc, "triage": doc.get("triage", TriageKind.EXHAUSTED)} for doc in items], total

    async def decide(self, appeal_id: str, body: TriageDecisionIn, actor: str) -> AssignmentView:
        """One action of the centre. Raises Problem 404 (unknown appeal), 409 (not in the queue, or
        decided by someone else meanwhile), 422 (a decision that does not fit the kind, an unknown
        topic, organisation or place)."""
        doc = await self._flows.waiting(appeal_id, AssignmentStep.TRIAGE, "the control centre")
        cc = await self._catalogue.current()
        now = self._clock()
        who = f"control-centre:{actor}"
        extra: Document = {}
        if doc.get("triage") == TriageKind.CLASSIFICATION:
            if body.dismiss:
                decision = rejected(Assignment.of(doc), ReasonCode.NOT_AN_APPEAL, None, now, who)
            else:
                extra = self._classification(cc, doc, body, actor)
                doc.update(extra)
                decision = await self._flows.initial(doc, now, actor=who)
        else:
            decision = self._named(cc, doc, body, now, who)
        fields, event, entry = decision
        entry["comment"] = body.comment
        change = Change(set={**extra, **fields}, push={"history": entry}, events=[event])
        return await self._flows.decided(doc, AssignmentStep.TRIAGE, change)

    def _named(
        self, cc: CompiledCatalogue, doc: Document, body: TriageDecisionIn, now: datetime, who: str
    ) -> Decision:
        """Every candidate refused: the organisation the centre names (even one that refused)."""
        if body.organization_id is None or body.dismiss:
            raise Problem(422, "this appeal was refused by every candidate: name an organization_id")
        org = cc.organizations.get(body.organization_id)
        if org is None or not org.active:
            raise Problem(422, f"no active organisation {body.organization_id!r} in the catalogue")
        record = Assignment.of(doc)
        return routed(
            record,
            cc,
            org,
            "triage:control-centre",
            record.escalation_level,
            RoutingReason.REASSIGNMENT,
            record.organization,
            now,
            who,
        )

    def _classification(
        self, cc: CompiledCatalogue, doc: Document, body: TriageDecisionIn, actor: str
    ) -> Document:
        """The topic and place the centre set for an unclassified post (the fields to store)."""
        if body.topic is None or body.place is None:
            raise Problem(422, "an unclassified post needs a topic and a place, or dismiss: true")
        topic = cc.topics.get(body.topic)
        if topic is None or not topic.active:
            raise Problem(422, f"no active topic {body.topic!r} in the catalogue")
        location = self._location(cc, body.place)
        classification = {**(doc.get("classification") or {}), "decided_by": actor}
        return {"topic": topic.code, "location": location, "classification": classification}

    @staticmethod
    def _location(cc: CompiledCatalogue, place: TriagePlaceIn) -> Document:
        if place.place_id is not None:
            known = classifier(cc).places.get(place.place_id)
            if known is None:
                raise Problem(422, f"no place {place.place_id!r} in the gazetteer")
            proposed = classifier(cc).resolve(known, "control-centre")
            return {"lat": proposed.lat, "lon": proposed.lon, "address": proposed.address}
        if place.lat is None or place.lon is None:
            raise Problem(422, "a place is a gazetteer place_id, or a point (lat and lon)")
        return {"lat": place.lat, "lon": place.lon, "address": place.address}
