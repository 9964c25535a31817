"""Duplicates and problem zones: appeals of one topic close in place and time form a cluster.

A routed appeal with a point joins the cluster of its nearest neighbour (same topic, within
`cluster_radius_m`, submitted within `cluster_window_days` of it); when no neighbour is clustered
yet, it and its neighbours start one. The public summary counts appeals per area and topic and
shows only clusters of several appeals, with their centre rounded to ~100 m: no personal data.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from libs.common.clock import Clock
from libs.common.contracts.routing import AssignmentStatus, ClusterMember, ClusterView
from libs.common.store import Database, Document
from services.routing.catalogue import CatalogueStore
from services.routing.geo import METRES_PER_DEGREE, haversine_m
from services.routing.records import ASSIGNMENTS
from services.routing.schemas import ProblemZone, ProblemZones
from services.routing.settings import RoutingSettings

CLUSTERS = "clusters"


class ClusterFlows:
    def __init__(
        self, db: Database, catalogue: CatalogueStore, clock: Clock, settings: RoutingSettings
    ) -> None:
        self._db = db
        self._catalogue = catalogue
        self._clock = clock
        self._radius = settings.cluster_radius_m
        self._window = timedelta(days=settings.cluster_window_days)
        self._zones_period = timedelta(days=settings.problem_zones_days)
        self._hotspot_min = settings.hotspot_min_size

    async def ensure_indexes(self) -> None:
        await self._db[ASSIGNMENTS].create_index([("topic", ASCENDING), ("submitted_at", ASCENDING)])
        await self._db[CLUSTERS].create_index([("topic", ASCENDING), ("last_at", DESCENDING)])
        await self._db[CLUSTERS].create_index("members")

    async def attach(self, appeal_id: str, inserted: Document | None = None) -> str | None:
        """Link a routed appeal with a point to its cluster; returns its cluster's id, None if it
        has none. Safe to repeat, after a crash half-way too: an appeal already in a cluster is
        left as it is, one in none is looked at again (an appeal stored later near it would have
        linked it, so a repeat finds the same as the first time). `inserted` is the assignment as
        this process has just inserted it (saves reading it back). Raises what the store raises."""
        doc = inserted if inserted is not None else await self._db[ASSIGNMENTS].find_one({"_id": appeal_id})
        if doc is None or doc.get("cluster_id") or doc.get("status") != AssignmentStatus.ROUTED:
            return doc.get("cluster_id") if doc else None
        lat, lon = (doc.get("location") or {}).get("lat"), (doc.get("location") or {}).get("lon")
        if lat is None or lon is None:
            return None
        # No "checked" mark is written (a round trip per appeal): nothing found leaves nothing to do.
        return await self._link(doc, lat, lon)

    async def _link(self, doc: Document, lat: float, lon: float) -> str | None:
        assignments, at = self._db[ASSIGNMENTS], doc["submitted_at"]
        dlat = self._radius / METRES_PER_DEGREE
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        near = await assignments.find(
            {
                "_id": {"$ne": doc["_id"]},
                "topic": doc["topic"],
                "status": AssignmentStatus.ROUTED,
                "submitted_at": {"$gte": at - self._window, "$lte": at + self._window},
                "location.lat": {"$gte": lat - dlat, "$lte": lat + dlat},
                "location.lon": {"$gte": lon - dlon, "$lte": lon + dlon},
            },
            {"location": 1, "cluster_id": 1, "submitted_at": 1},
        ).to_list(None)
        close = sorted(
            (haversine_m(lat, lon, n["location"]["lat"], n["location"]["lon"]), n["_id"], n)
            for n in near
            if haversine_m(lat, lon, n["location"]["lat"], n["location"]["lon"]) <= self._radius
        )
        if not close:
            return None
        joined = next((n["cluster_id"] for _, _, n in close if n.get("cluster_id")), None)
        fresh = [doc, *(n for _, _, n in close if not n.get("cluster_id"))]
        members = [m["_id"] for m in fresh]
        times = [m["submitted_at"] for m in fresh]
        cluster_id = joined or f"cl-{doc['_id']}"
        grow = {
            "$addToSet": {"members": {"$each": members}},
            "$min": {"first_at": min(times)},
            "$max": {"last_at": max(times)},
        }
        if joined is None:
            center = {
                "lat": sum(m["location"]["lat"] for m in fresh) / len(fresh),
                "lon": sum(m["location"]["lon"] for m in fresh) / len(fresh),
            }
            try:
                await self._db[CLUSTERS].insert_one(
                    {
                        "_id": cluster_id,
                        "topic": doc["topic"],
                        "area_id": doc.get("area_id"),
                        "center": center,
                        "members": members,
                        "first_at": min(times),
                        "last_at": max(times),
                        "created_at": self._clock(),
                    }
                )
            except DuplicateKeyError:
                await self._db[CLUSTERS].update_one({"_id": cluster_id}, grow)
        else:
            await self._db[CLUSTERS].update_one({"_id": cluster_id}, grow)
            await self._recenter(cluster_id)
        await assignments.update_many(
            {"_id": {"$in": members}, "cluster_id": None}, {"$set": {"cluster_id": cluster_id}}
        )
        return cluster_id

    async def _recenter(self, cluster_id: str) -> None:
        """The centre is the mean of the members' points (clusters are small: a few dozen at most)."""
        cluster = await self._db[CLUSTERS].find_one({"_id": cluster_id}, {"members": 1})
        if not cluster:
            return
        points = [
            m["location"]
            for m in await self._db[ASSIGNMENTS]
            .find({"_id": {"$in": cluster["members"]}}, {"location": 1})
            .to_list(None)
        ]
        center = {
            "lat": sum(p["lat"] for p in points) / len(points),
            "lon": sum(p["lon"] for p in points) / len(points),
        }
        await self._db[CLUSTERS].update_one({"_id": cluster_id}, {"$set": {"center": center}})

    async def clusters(
        self, organization_id: str | None, topic: str | None, limit: int, offset: int
    ) -> tuple[list[ClusterView], int]:
        """Clusters, newest activity first; for an organisation, those holding one of its appeals."""
        query: Document = {}
        if organization_id:
            ids = await self._db[ASSIGNMENTS].distinct(
                "cluster_id", {"organization.id": organization_id, "cluster_id": {"$ne": None}}
            )
            query["_id"] = {"$in": ids}
        if topic:
            query["topic"] = topic
        total = await self._db[CLUSTERS].count_documents(query)
        found = (
            await self._db[CLUSTERS]
            .find(query)
            .sort("last_at", DESCENDING)
            .skip(offset)
            .limit(limit)
            .to_list(limit)
        )
        member_ids = [member for cluster in found for member in cluster["members"]]
        members = {
            m["_id"]: m
            for m in await self._db[ASSIGNMENTS]
            .find({"_id": {"$in": member_ids}}, {"number": 1, "organization": 1, "submitted_at": 1})
            .to_list(None)
        }
        views = []
        for cluster in found:
            listed = [
                ClusterMember(
                    appeal_id=m["_id"],
                    number=m["number"],
                    organization_id=(m.get("organization") or {}).get("id"),
                    submitted_at=m["submitted_at"],
                )
                for m in sorted(
                    (members[i] for i in cluster["members"] if i in members),
                    key=lambda m: (m["submitted_at"], m["number"]),
                )
            ]
            views.append(
                ClusterView(
                    id=cluster["_id"],
                    topic=cluster["topic"],
                    area_id=cluster.get("area_id"),
                    center=cluster["center"],
                    size=len(cluster["members"]),
                    first_at=cluster["first_at"],
                    last_at=cluster["last_at"],
                    members=listed,
                )
            )
        return views, total

    async def problem_zones(self) -> ProblemZones:
        since = self._clock() - self._zones_period
        cc = await self._catalogue.current()
        cursor = await self._db[ASSIGNMENTS].aggregate(
            [
                {"$match": {"status": AssignmentStatus.ROUTED.value, "submitted_at": {"$gte": since}}},
                {"$group": {"_id": {"area": "$area_id", "topic": "$topic"}, "n": {"$sum": 1}}},
            ]
        )
        appeals = await cursor.to_list(None)
        recent = await self._db[CLUSTERS].find({"last_at": {"$gte": since}}, {"created_at": 0}).to_list(None)
        cluster_counts = Counter((c.get("area_id"), c["topic"]) for c in recent)

        def area_name(area_id: str | None) -> str:
            area = cc.areas.get(area_id or "")
            return area.name if area else "вне муниципальных границ"

        def topic_name(code: str) -> str:
            topic = cc.topics.get(code)
            return topic.name if topic else code

        zones = [
            ProblemZone(
                area_id=row["_id"].get("area"),
                area_name=area_name(row["_id"].get("area")),
                topic=row["_id"]["topic"],
                topic_name=topic_name(row["_id"]["topic"]),
                appeals=row["n"],
                clusters=cluster_counts.get((row["_id"].get("area"), row["_id"]["topic"]), 0),
            )
            for row in appeals
        ]
        zones.sort(key=lambda z: (-z.appeals, z.area_name, z.topic))
        hotspots = [
            {
                "topic": c["topic"],
                "topic_name": topic_name(c["topic"]),
                "area_name": area_name(c.get("area_id")),
                "appeals": len(c["members"]),
                "center": {"lat": round(c["center"]["lat"], 3), "lon": round(c["center"]["lon"], 3)},
                "last_at": c["last_at"],
            }
            for c in sorted(recent, key=lambda c: -len(c["members"]))
            if len(c["members"]) >= self._hotspot_min
        ]
        return ProblemZones(since=since, zones=zones, hotspots=hotspots)
