"""The public map's script (services/web/static/map.js) in Chromium with the data the page embeds:
municipalities shaded by appeal count and problem zones (hotspots) as circles, no script error.
Found by a fresh-user run: with a hotspot the map drew nothing (Leaflet threw on a circle added
before the map had a view)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.browser import CHROMIUM
from tests.e2e.test_web import browser  # noqa: F401 - the shared browser fixture

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
    ),
]

WEB = Path(__file__).resolve().parents[2] / "services" / "web"
LEAFLET = WEB / "node_modules" / "leaflet" / "dist" / "leaflet.js"


def square(area_id: str, name: str, appeals: int, lon: float) -> dict[str, object]:
    ring = [[lon, 57.6], [lon + 0.1, 57.6], [lon + 0.1, 57.7], [lon, 57.7], [lon, 57.6]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"id": area_id, "name": name, "appeals": appeals},
    }


@pytest.mark.parametrize("hotspots", [0, 2])
async def test_the_map_draws_every_zone_and_every_hotspot(browser: Browser, hotspots: int) -> None:  # noqa: F811
    data = {
        "areas": {
            "type": "FeatureCollection",
            "features": [square("demograd", "Демоград", 3, 43.7), square("lesnoe", "Лесное", 0, 43.9)],
        },
        "hotspots": [
            {"lat": 57.65, "lon": 43.75 + i / 100, "appeals": 3, "topic": "roads.potholes"}
            for i in range(hotspots)
        ],
    }
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.set_content(
        '<div id="zones-map" style="width:600px;height:400px"></div>'
        f'<script type="application/json" id="map-data">{json.dumps(data)}</script>'
    )
    await page.add_script_tag(path=str(LEAFLET))
    await page.add_script_tag(path=str(WEB / "static" / "map.js"))
    await page.evaluate("document.dispatchEvent(new Event('DOMContentLoaded'))")  # map.js starts on it
    await expect(page.locator("path.area")).to_have_count(2)
    await expect(page.locator("path.area-demograd.zone-active")).to_have_count(1)
    await expect(page.locator("path.hotspot")).to_have_count(hotspots)
    assert errors == []
    await page.close()
