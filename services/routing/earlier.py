"""The earlier appeals a new one is checked against, read in one query (one store round trip).

Two questions about the assignments before a new appeal (docs/routing.md):

- the **duplicate**: the same text (`fingerprint`) from the same author within the spam window,
  still open (routed or held, not answered): moderation rejects the new one as a repeat of it;
- the **answered** appeals of the same resident and topic within the repeat window: a repeat
  after an answer goes to the organisation that answered (`repeat_among` picks the one).

When the topic is known on arrival both are one `$or` query, each branch served by its own index
(`RoutingFlows.ensure_indexes`). The branches are told apart by `answered_at`: the duplicate
branch requires it absent, the answered branch requires it present, so no document matches both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import DESCENDING

from libs.common.contracts.routing import AssignmentStatus
from libs.common.store import Database, Document
from services.routing.geo import same_place
from services.routing.records import ASSIGNMENTS
from services.routing.settings import RoutingSettings

# The answered appeals compared by place, newest answer first: a resident's appeals of one topic
# answered within the window are few; the cap bounds a pathological case.
REPEAT_CANDIDATES = 20
FIELDS = {"number": 1, "location": 1, "organization": 1, "answered_at": 1, "submitted_at": 1}


@dataclass(frozen=True)
class Earlier:
    """What one lookup found: `duplicate`, the open appeal with the same text (None: none);
    `answered`, the resident's answered appeals of the topic, newest answer first (None: not
    looked up, as for an appeal whose topic is not known yet)."""

    duplicate: Document | None
    answered: list[Document] | None


class EarlierAppeals:
    """Reads of `assignments` about the appeals before a new one."""

    def __init__(self, db: Database, settings: RoutingSettings) -> None:
        self._db = db
        self._spam_window = timedelta(minutes=settings.spam_window_minutes)
        self._repeat_window = timedelta(days=settings.repeat_window_days)
        self._repeat_radius_m = settings.repeat_radius_m

    def _duplicate_query(
        self, appeal_id: str, author_id: str, fingerprint: str, submitted_at: datetime
    ) -> Document:
        return {
            "author_id": author_id,
            "fingerprint": fingerprint,
            "status": {"$in": [AssignmentStatus.ROUTED, AssignmentStatus.HELD]},
            "answered_at": {"$exists": False},  # after an answer it is a repeat appeal, linked
            "submitted_at": {"$gte": submitted_at - self._spam_window},
            "_id": {"$ne": appeal_id},
        }

    def _answered_query(self, appeal_id: str, resident: str, topic: str, submitted_at: datetime) -> Document:
        return {
            "resident": resident,
            "topic": topic,
            "answered_at": {"$gte": submitted_at - self._repeat_window},
            "_id": {"$ne": appeal_id},
        }

    async def lookup(
        self,
        appeal_id: str,
        author_id: str,
        fingerprint: str,
        submitted_at: datetime,
        resident: str | None,
        topic: str | None,
    ) -> Earlier:
        """The duplicate and (given a resident and a topic) the answered appeals, in one query.
        Without a resident or topic `answered` is None. Raises what the store raises."""
        duplicate = self._duplicate_query(appeal_id, author_id, fingerprint, submitted_at)
        if not (resident and topic):
            found = await self._db[ASSIGNMENTS].find(duplicate, FIELDS).to_list(None)
            return Earlier(_first_submitted(found), None)
        answered = self._answered_query(appeal_id, resident, topic, submitted_at)
        found = await self._db[ASSIGNMENTS].find({"$or": [duplicate, answered]}, FIELDS).to_list(None)
        open_ = [doc for doc in found if "answered_at" not in doc]
        closed = [doc for doc in found if "answered_at" in doc]
        closed.sort(key=lambda doc: doc["answered_at"], reverse=True)
        return Earlier(_first_submitted(open_), closed[:REPEAT_CANDIDATES])

    async def answered(self, doc: Document) -> list[Document]:
        """The resident's answered appeals of the assignment's topic, newest answer first (for an
        appeal whose topic was found after it arrived). Raises what the store raises."""
        query = self._answered_query(doc["_id"], doc["resident"], doc["topic"], doc["submitted_at"])
        cursor = self._db[ASSIGNMENTS].find(query, FIELDS).sort("answered_at", DESCENDING)
        return await cursor.limit(REPEAT_CANDIDATES).to_list(REPEAT_CANDIDATES)

    def repeat_among(self, answered: list[Document], doc: Document) -> Document | None:
        """The earlier appeal the assignment repeats: the newest answered before it was submitted
        about the same place (`geo.same_place` within the repeat radius), None if none."""
        for candidate in answered:
            if candidate["answered_at"] <= doc["submitted_at"] and same_place(
                candidate.get("location") or {}, doc["location"], self._repeat_radius_m
            ):
                return candidate
        return None


def _first_submitted(found: list[Document]) -> Document | None:
    """The earliest submitted of the open duplicates (normally there is one at most: the next
    ones are rejected as its repeats)."""
    return min(found, key=lambda doc: (doc["submitted_at"], doc["number"])) if found else None
