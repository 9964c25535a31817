"""Where a place is: point-in-polygon over municipal boundaries, address matching, distances. No I/O.

Points are tested in WGS 84 (lon, lat) exactly as the GeoJSON gives them, so a point on a shared
border is on the border of both areas. Which area then wins is fixed by `AreaIndex.locate_point`:
the smaller area, then the smaller id (see docs/routing.md). Distances ("near a border", clusters)
use a local plane in metres, accurate to well under 1 % across a region.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from libs.common.text import for_checks
from services.routing.schemas import Area

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180
_WORD_START = r"(?<![0-9a-zа-я])"
_TREE_FROM = 48  # areas: below this a vectorised test of all of them beats an STR-tree query


class LocatedBy(StrEnum):
    POINT = "point"
    BORDER = "border"  # on the border of two or more areas; decided by the tie-break
    ADDRESS = "address"
    NONE = "none"


@dataclass(frozen=True)
class Located:
    area: Area | None
    by: LocatedBy


def normalize_address(text: str) -> str:
    """The form addresses and area names are matched in: `libs.common.text.for_checks` (NFKC,
    invisible characters removed, look-alike letters folded, case folded) and ё read as е."""
    return for_checks(text).replace("ё", "е")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def geometry_problem(geometry: dict[str, Any]) -> str | None:
    """Why a GeoJSON geometry cannot be a municipal boundary, or None."""
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return "an area's geometry must be a GeoJSON Polygon or MultiPolygon"
    try:
        geom = shape(geometry)
    except Exception as exc:
        return f"the geometry is not valid GeoJSON: {exc}"
    if geom.is_empty or not geom.is_valid:
        return f"the geometry is not a valid polygon: {shapely.is_valid_reason(geom)}"
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        return "coordinates must be [lon, lat] in degrees (WGS 84)"
    return None


def overlapping(areas: Sequence[Area], tolerance_m2: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of areas sharing more than a border: routing by place needs a partition."""
    geoms = [shape(area.geometry) for area in areas]
    tree = shapely.STRtree(geoms)
    pairs = []
    for i, j in tree.query(geoms, predicate="intersects").T:
        if i < j:
            lat = (geoms[i].centroid.y + geoms[j].centroid.y) / 2
            scale = METRES_PER_DEGREE**2 * math.cos(math.radians(lat))
            if geoms[i].intersection(geoms[j]).area * scale > tolerance_m2:
                pairs.append((areas[i].id, areas[j].id))
    return pairs


class AreaIndex:
    """Municipal boundaries ready for many queries: an STR-tree over prepared geometries."""

    def __init__(self, areas: Sequence[Area]) -> None:
        self.areas = list(areas)
        self._geoms: list[BaseGeometry] = [shape(area.geometry) for area in self.areas]
        for geom in self._geoms:
            shapely.prepare(geom)
        self._array = np.asarray(self._geoms, dtype=object)
        self._all = np.arange(len(self._geoms))
        self._tree = shapely.STRtree(self._geoms)
        # The tie-break order: smaller areas first (a town inside a district, a city beside one).
        self._rank = {
            i: rank
            for rank, i in enumerate(
                sorted(range(len(self.areas)), key=lambda i: (self._geoms[i].area, self.areas[i].id))
            )
        }
        lat0 = float(np.mean([g.centroid.y for g in self._geoms])) if self._geoms else 0.0
        self._kx = METRES_PER_DEGREE * math.cos(math.radians(lat0))
        self._plane = [shapely.transform(g, self._to_plane) for g in self._geoms]
        self._plane_array = np.asarray(self._plane, dtype=object)
        self._plane_tree = shapely.STRtree(self._plane)
        self._aliases = [
            (re.compile(_WORD_START + re.escape(normalize_address(alias))), i)
            for i, area in enumerate(self.areas)
            for alias in {area.name, *area.aliases}
        ]

    def _to_plane(self, coords: Any) -> Any:
        return coords * np.array([self._kx, METRES_PER_DEGREE])

    def _candidates(self, lon: float, lat: float) -> Any:
        """Indices of the areas that may hold the point: all of them when few (one vectorised test
        is cheaper than a tree query), else those whose bounding box the STR-tree finds."""
        if len(self.areas) <= _TREE_FROM:
            return self._all
        return self._tree.query(shapely.Point(lon, lat))

    def locate_point(self, lat: float, lon: float) -> Located:
        """The area whose interior holds the point; on a border, the smaller area (then smaller id)."""
        candidates = self._candidates(lon, lat)
        inside = candidates[shapely.contains_xy(self._array[candidates], lon, lat)]
        if inside.size:
            return Located(self.areas[min(map(int, inside), key=self._rank.__getitem__)], LocatedBy.POINT)
        touching = candidates[shapely.intersects_xy(self._array[candidates], lon, lat)]
        if touching.size:
            return Located(self.areas[min(map(int, touching), key=self._rank.__getitem__)], LocatedBy.BORDER)
        return Located(None, LocatedBy.NONE)

    def match_address(self, address: str) -> Area | None:
        """The area named in a free-text address (a name or alias at a word start); when several
        are named ("Лесогорск, Сосновский район"), the smallest: the most specific."""
        text = normalize_address(address)
        found = {i for pattern, i in self._aliases if pattern.search(text)}
        return self.areas[min(found, key=self._rank.__getitem__)] if found else None

    def locate(self, lat: float | None, lon: float | None, address: str | None) -> Located:
        """The point first; without one, or outside every area, the address."""
        if lat is not None and lon is not None:
            located = self.locate_point(lat, lon)
            if located.area is not None:
                return located
        if address and (area := self.match_address(address)) is not None:
            return Located(area, LocatedBy.ADDRESS)
        return Located(None, LocatedBy.NONE)

    def nearby(self, lat: float, lon: float, metres: float) -> list[Area]:
        """Areas within `metres` of the point, nearest first (the point's own area included)."""
        point = shapely.Point(lon * self._kx, lat * METRES_PER_DEGREE)
        if len(self.areas) <= _TREE_FROM:
            distances = shapely.distance(self._plane_array, point)
            hits = [int(i) for i in np.flatnonzero(distances <= metres)]
            return [self.areas[i] for i in sorted(hits, key=lambda i: (distances[i], self._rank[i]))]
        found = self._plane_tree.query(point, predicate="dwithin", distance=metres)
        ordered = sorted(
            (int(i) for i in found), key=lambda i: (self._plane[i].distance(point), self._rank[i])
        )
        return [self.areas[i] for i in ordered]


def same_place(a: Mapping[str, Any], b: Mapping[str, Any], radius_m: float) -> bool:
    """Two locations are one place: points within `radius_m`, else the same address (normalised)."""
    if None not in (a.get("lat"), a.get("lon"), b.get("lat"), b.get("lon")):
        return haversine_m(a["lat"], a["lon"], b["lat"], b["lon"]) <= radius_m
    if a.get("address") and b.get("address"):
        return normalize_address(a["address"]) == normalize_address(b["address"])
    return False
