"""Polls, public appeals and the author's public choice in a real browser, on the shared e2e stack
and the browser of tests/e2e/test_web.py: an operator drafts and publishes a poll through the
form; a resident finds it by area, votes by keyboard only, sees the live results, and a second
vote from a stale tab is refused (one ballot); the cabinet's "polls of my area" opt-in; an
appeal made public from its page appears masked on the public list and leaves it when made
private again. axe-core on every page; no CSP violation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Browser, Page, expect

from tests.e2e.browser import reload_until, sign_in, visit
from tests.e2e.conftest import bearer
from tests.e2e.test_web import browser, new_page, pytestmark, unique, web

__all__ = ["browser", "pytestmark", "web"]  # fixtures and marks of the shared browser stack

MOSCOW = ZoneInfo("Europe/Moscow")


async def press_tab_until(page: Page, name: str, limit: int = 40) -> None:
    """Tab through the page until the button `name` has the focus (a keyboard user's path)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement && document.activeElement.textContent")
        if focused and focused.strip() == name:
            return
    raise AssertionError(f"the button {name!r} was never reached with Tab")


async def test_operator_publishes_a_poll_and_a_resident_votes_once_by_keyboard(
    browser: Browser, web: str
) -> None:
    title = f"Где поставить скамейки? {unique('e2e')}"
    operator = await new_page(browser)
    await sign_in(operator, web, unique("op"), "operator", "city-admin", next_url="/work/polls")
    await expect(operator.get_by_role("heading", name="Наши голосования")).to_be_visible()
    await visit(operator, "operator-polls")
    await operator.get_by_role("link", name="Новое голосование или слушания").click()
    await operator.get_by_label("Название").fill(title)
    await operator.get_by_label("Описание").fill("Администрация выбирает место для новых скамеек.")
    await operator.get_by_label("Демоград").check()
    closes = (datetime.now(MOSCOW) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    await operator.get_by_label("Завершается").fill(closes)
    await operator.get_by_label("Показывать итоги во время голосования").check()
    await operator.locator("#q0_text").fill("Где поставить скамейки?")
    await operator.locator("#q0_options").fill("В парке\nНа набережной")
    await visit(operator, "operator-poll-form")
    await operator.get_by_role("button", name="Сохранить черновик").click()
    await expect(operator.locator(".flash")).to_have_text("Черновик сохранён")
    await expect(operator.locator("#poll-status")).to_have_text("Черновик")
    await operator.get_by_role("button", name="Опубликовать").click()
    await expect(operator.locator("#poll-status")).to_have_text("Опубликовано")
    poll_path = re.sub(r"^.*/work", "", operator.url)  # /polls/<id>
    await visit(operator, "operator-poll")

    # A resident finds it by area, with two tabs open on it (the second goes stale).
    resident = await new_page(browser)
    await sign_in(resident, web, unique("resident"), next_url="/polls")
    await resident.get_by_label("Территория").select_option("demograd")
    await resident.get_by_label("Статус").select_option("published")
    await resident.get_by_role("button", name="Показать").click()
    await visit(resident, "polls")
    await resident.get_by_role("link", name=title).click()
    await expect(resident).to_have_url(re.compile(re.escape(poll_path) + "$"))
    stale = await resident.context.new_page()
    await stale.goto(resident.url)
    await visit(resident, "poll-open")

    # Keyboard only: the option by Space, Tab to the button, Enter.
    await resident.get_by_role("radio", name="На набережной").focus()
    await resident.keyboard.press("Space")
    await expect(resident.get_by_role("radio", name="На набережной")).to_be_checked()
    await press_tab_until(resident, "Проголосовать")
    await resident.keyboard.press("Enter")
    await expect(resident.locator(".flash")).to_have_text("Ваш голос учтён. Спасибо!")
    await expect(resident.locator("#voted")).to_be_visible()
    await expect(resident.get_by_role("button", name="Проголосовать")).to_have_count(0)
    results = resident.locator("table.results tbody tr")
    await expect(results.nth(1)).to_contain_text("На набережной")
    await expect(results.nth(1).locator("td").nth(1)).to_have_text("1")
    await expect(results.nth(1).locator("td").nth(2)).to_have_text("100.0")
    await expect(resident.get_by_text("Бюллетеней: 1")).to_be_visible()
    await visit(resident, "poll-voted")

    # The stale tab votes otherwise: refused, and the count stays one ballot.
    await stale.get_by_role("radio", name="В парке").check()
    await stale.get_by_role("button", name="Проголосовать").click()
    await expect(stale.locator("#vote-error")).to_have_text(
        "Вы уже проголосовали: в этом голосовании изменить голос нельзя"
    )
    await visit(stale, "poll-vote-refused")
    await operator.reload()
    await expect(operator.get_by_text("Бюллетеней: 1")).to_be_visible()

    # The cabinet: follow Демоград, and its open polls are listed there.
    await resident.get_by_role("link", name="Голосования моего района").first.click()
    await resident.get_by_label("Демоград").check()
    await resident.get_by_role("button", name="Сохранить").click()
    await expect(resident.locator(".flash")).to_have_text(
        "Вы будете получать уведомления о голосованиях в этих районах"
    )
    await expect(resident.get_by_role("link", name=title)).to_be_visible()
    await visit(resident, "my-polls")
    for page in (operator, resident):
        assert page.csp_errors == []  # type: ignore[attr-defined]


async def test_an_appeal_made_public_from_its_page_is_listed_masked_until_made_private(
    browser: Browser, web: str, gateway: httpx.AsyncClient
) -> None:
    author = unique("author")
    summary = f"Не горит фонарь {unique('lamp')}"
    body = {
        "kind": "complaint",
        "topic": "landscaping.street_lighting",
        "summary": summary,
        "description": "Фонарь у дома 3 не горит неделю. Звоните: +7 912 345-67-89.",
        "location": {"address": "Демоград, ул. Садовая, 3"},
    }
    created = await gateway.post("/api/v1/appeals", headers=await bearer(gateway, author), json=body)
    assert created.status_code == 201, created.text
    appeal = created.json()

    page = await new_page(browser)
    await sign_in(page, web, author, next_url=f"/appeals/{appeal['id']}")
    await expect(page.locator("#publication-state")).to_contain_text("Не опубликовано")
    await reload_until(page, "#appeal-status", "Направлено в организацию")
    await page.get_by_role("button", name="Опубликовать").click()
    await expect(page.locator(".flash")).to_have_text("Обращение опубликовано")
    await expect(page.locator("#publication-state")).to_contain_text("Публичное: обращение в общем списке")
    await page.get_by_text("Что скрыто от всех").click()
    await expect(page.get_by_text("+7 912 345-67-89").first).to_be_visible()  # the author sees what is hidden
    await expect(page.locator(".timeline")).to_contain_text("Автор разрешил публикацию")
    await visit(page, "appeal-public")

    listed = await new_page(browser)  # anyone, signed out
    await listed.goto(f"{web}/public-appeals?topic=landscaping.street_lighting")
    card = listed.locator(".card", has_text=appeal["number"])
    await expect(card).to_contain_text(summary)
    await expect(card).to_contain_text("[скрыто]")
    await expect(card).not_to_contain_text("912")
    await visit(listed, "public-appeals")
    # the card's heading opens the appeal's own page, the link a resident can share
    await card.get_by_role("link", name=f"№ {appeal['number']}").click()
    await expect(listed.get_by_role("heading", level=1)).to_contain_text(summary)
    await expect(listed.locator(".public-appeal")).to_contain_text("[скрыто]")
    await expect(listed.locator(".public-appeal")).not_to_contain_text("912")
    await visit(listed, "public-appeal")
    await expect(page.locator("#public-page")).to_have_attribute(
        "href", f"/public-appeals/{appeal['number']}"
    )

    await page.get_by_role("button", name="Снять с публикации").click()
    await expect(page.locator(".flash")).to_have_text("Обращение снято с публикации")
    gone = await listed.reload()  # the appeal's own page: gone with the publication
    assert gone is not None and gone.status == 404
    await expect(listed.locator("main")).not_to_contain_text(summary)
    await listed.goto(f"{web}/public-appeals?topic=landscaping.street_lighting")
    await expect(listed.locator(".card", has_text=appeal["number"])).to_have_count(0)
    assert page.csp_errors == [] and listed.csp_errors == []  # type: ignore[attr-defined]
