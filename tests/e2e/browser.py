"""Helpers of the browser tests: Debian's Chromium driven by Playwright, axe-core checks,
screenshots under var/screenshots/, and sign-in through the dev page."""

from __future__ import annotations

import re
import time
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

CHROMIUM = "/usr/bin/chromium"  # Debian's package; the Makefile installs it
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
_axe = Axe()


async def check_accessibility(page: Page, name: str) -> None:
    """axe-core on the page as it is: no serious or critical violations."""
    results = await _axe.run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: " + "; ".join(bad)


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def visit(page: Page, name: str, check: bool = True) -> None:
    """After a page loads: the accessibility check and a screenshot named after it."""
    await page.wait_for_load_state("load")
    if check:
        await check_accessibility(page, name)
    await shot(page, name)


async def sign_in(
    page: Page, web: str, sub: str, role: str = "citizen", org_id: str = "", next_url: str = "/"
) -> None:
    """The dev sign-in page's "another person" form, filled in by typing."""
    await page.goto(f"{web}/signin?next={next_url}")
    await page.get_by_text("Другой пользователь").click()
    await page.get_by_label("Идентификатор пользователя").fill(sub)
    await page.get_by_label("Роль").select_option(role)
    if org_id:
        await page.get_by_label("Идентификатор организации (для операторов)").fill(org_id)
    await page.locator("details form button[type=submit]").click()
    await expect(page.get_by_role("button", name="Выйти")).to_be_visible()


async def reload_until(page: Page, locator: str, text: str | re.Pattern[str], timeout: float = 30) -> None:
    """Reload until the element shows the text (the platform's services work asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        content = (
            await page.locator(locator).first.text_content() if await page.locator(locator).count() else ""
        )
        found = bool(text.search(content or "")) if isinstance(text, re.Pattern) else text in (content or "")
        if found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{locator!r} never showed {text!r}; last: {content!r}")
        await page.wait_for_timeout(500)
        await page.reload()


def jpeg(path: Path, gps: tuple[float, float] | None = None) -> Path:
    """A photo; with `gps` (lat, lon in Демоград) it carries the position as a phone writes it."""
    from PIL import ExifTags, Image

    def dms(value: float) -> tuple[float, float, float]:
        minutes, seconds = divmod(round(value * 3600, 2), 60)
        degrees, minutes = divmod(minutes, 60)
        return (float(degrees), float(minutes), float(seconds))

    exif = Image.Exif()
    if gps:
        exif[ExifTags.Base.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: dms(gps[0]),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: dms(gps[1]),
        }
    Image.new("RGB", (640, 480), (40, 120, 200)).save(path, "JPEG", exif=exif)
    return path
