"""Point-in-polygon on the demo region's municipal boundaries: inside, near and on the borders."""

from __future__ import annotations

import itertools
import math
from functools import cache

import pytest
import shapely
from shapely.geometry import LineString, shape

from services.routing.catalogue import read_catalogue_file
from services.routing.geo import AreaIndex, LocatedBy, geometry_problem, haversine_m, overlapping
from services.routing.schemas import Area
from services.routing.settings import DEMO_CATALOGUE

STEP = 1e-6  # degrees: about 0.1 m


@cache
def areas() -> tuple[Area, ...]:
    return tuple(read_catalogue_file(DEMO_CATALOGUE, False)[0].areas)


@cache
def index() -> AreaIndex:
    return AreaIndex(areas())


def shared_borders() -> list[tuple[str, str, LineString]]:
    """Every pair of areas that share a border, with one straight piece of that border."""
    found = []
    for a, b in itertools.combinations(areas(), 2):
        common = shape(a.geometry).boundary.intersection(shape(b.geometry).boundary)
        lines = [
            g for g in getattr(common, "geoms", [common]) if g.geom_type == "LineString" and not g.is_empty
        ]
        if lines:
            coords = list(max(lines, key=lambda g: g.length).coords)
            found.append((a.id, b.id, LineString(coords[:2])))
    return found


def test_the_demo_areas_partition_the_region() -> None:
    assert overlapping(areas()) == []
    pairs = {tuple(sorted((a, b))) for a, b, _ in shared_borders()}
    # The city touches four districts, each district two others, the enclave its district.
    assert len(pairs) >= 9
    assert ("lesogorsk", "sosnovsky") in pairs


@pytest.mark.parametrize(
    ("first", "second", "segment"), shared_borders(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_point_just_inside_each_side_of_a_shared_border(
    first: str, second: str, segment: LineString
) -> None:
    (x1, y1), (x2, y2) = segment.coords
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    length = math.hypot(x2 - x1, y2 - y1)
    nx, ny = -(y2 - y1) / length * STEP, (x2 - x1) / length * STEP  # the normal, 0.1 m long
    left = index().locate_point(my + ny, mx + nx)
    right = index().locate_point(my - ny, mx - nx)
    assert {left.area.id, right.area.id} == {first, second}  # type: ignore[union-attr]
    assert left.by == right.by == LocatedBy.POINT


@pytest.mark.parametrize(
    ("lon", "lat", "expected", "why"),
    [
        (43.770, 57.594, "demograd", "city × Красноборский: the city is smaller"),
        (43.874, 57.662, "demograd", "city × Сосновский"),
        (43.680, 57.612, "demograd", "where the city and two districts meet"),
        (43.990, 57.560, "sosnovsky", "Сосновский × Красноборский: Сосновский is smaller"),
        (43.560, 57.780, "priozerny", "Приозёрный × Заречный: Приозёрный is smaller"),
        (44.110, 57.660, "lesogorsk", "the enclave's own border: the town is smaller"),
    ],
)
def test_a_point_on_a_border_goes_to_the_smaller_area(
    lon: float, lat: float, expected: str, why: str
) -> None:
    located = index().locate_point(lat, lon)
    assert located.by == LocatedBy.BORDER, why
    assert located.area is not None and located.area.id == expected, why
    # Deterministic: the same whatever the order the areas were given in.
    assert AreaIndex(tuple(reversed(areas()))).locate_point(lat, lon).area.id == expected  # type: ignore[union-attr]


def test_the_enclave_is_not_part_of_the_district_around_it() -> None:
    assert index().locate_point(57.68, 44.15).area.id == "lesogorsk"  # type: ignore[union-attr]
    assert index().locate_point(57.68, 44.05).area.id == "sosnovsky"  # type: ignore[union-attr]


def test_outside_every_area_nothing_is_found() -> None:
    located = index().locate_point(55.75, 37.62)
    assert (located.area, located.by) == (None, LocatedBy.NONE)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("г. Демоград, ул. Мира, 3", "demograd"),
        ("живу в Демограде, у рынка", "demograd"),
        ("Красноборский р-н, д. Ивановка", "krasnoborsky"),
        ("Лесогорск, Сосновский район, ул. Лесная", "lesogorsk"),  # both named: the smaller wins
        ("ПРИОЗЁРНЫЙ округ, пгт Приозёрный", "priozerny"),
        ("Остановка Центральная", None),
        ("Новодемоградский проспект", None),  # only at a word start
    ],
)
def test_an_address_names_its_municipality(address: str, expected: str | None) -> None:
    area = index().match_address(address)
    assert (area.id if area else None) == expected


def test_the_point_wins_over_the_address() -> None:
    located = index().locate(57.50, 43.80, "г. Демоград")
    assert (located.area.id, located.by) == ("krasnoborsky", LocatedBy.POINT)  # type: ignore[union-attr]


def test_nearby_areas_within_a_distance() -> None:
    near = [a.id for a in index().nearby(57.5949, 43.770, 500)]  # 100 m north of the city's border
    assert near[0] == "demograd" and "krasnoborsky" in near
    assert [a.id for a in index().nearby(57.65, 43.77, 500)] == ["demograd"]


def test_distances() -> None:
    assert haversine_m(57.0, 43.0, 58.0, 43.0) == pytest.approx(111_195, rel=1e-3)
    assert haversine_m(57.65, 43.77, 57.65, 43.775) == pytest.approx(298, rel=0.01)


def test_geometry_checks() -> None:
    assert geometry_problem({"type": "Point", "coordinates": [43.0, 57.0]}) is not None
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    assert "not a valid polygon" in (geometry_problem(bowtie) or "")
    swapped = {"type": "Polygon", "coordinates": [[[57, 200], [58, 200], [58, 201], [57, 200]]]}
    assert "lon, lat" in (geometry_problem(swapped) or "")
    assert geometry_problem(areas()[0].geometry) is None


def test_overlapping_areas_are_found() -> None:
    city = next(a for a in areas() if a.id == "demograd")
    bigger = shapely.geometry.mapping(shape(city.geometry).buffer(0.01))
    rogue = Area(id="rogue", name="Самозванец", organization="city-admin", geometry=dict(bigger))
    pairs = overlapping([*areas(), rogue])
    assert ("demograd", "rogue") in pairs and ("krasnoborsky", "rogue") in pairs


def grid(n: int) -> list[Area]:
    """n × n square municipalities of 0.01° sharing their borders: enough to use the STR-tree."""
    return [
        Area(
            id=f"sq-{row:02d}-{col:02d}",
            name=f"Квадрат {row}-{col}",
            organization="org",
            geometry=dict(
                shapely.geometry.mapping(
                    shapely.box(col / 100, 50 + row / 100, (col + 1) / 100, 50 + (row + 1) / 100)
                )
            ),
        )
        for row in range(n)
        for col in range(n)
    ]


def test_many_areas_use_the_tree_with_the_same_answers() -> None:
    big = AreaIndex(grid(10))
    assert big.locate_point(50.055, 0.035).area.id == "sq-05-03"  # type: ignore[union-attr]
    # A corner shared by four equal squares: equal size, so the smallest id wins.
    corner = big.locate_point(50.05, 0.03)
    assert (corner.area.id, corner.by) == ("sq-04-02", LocatedBy.BORDER)  # type: ignore[union-attr]
    assert big.locate_point(49.0, 0.03).area is None
    near = [a.id for a in big.nearby(50.0596, 0.035, 100)]  # ~45 m from the northern neighbour
    assert near == ["sq-05-03", "sq-06-03"]
