"""The web in a real browser: a citizen and an operator take an appeal with a photo through its
whole life by clicking and typing; the widget on another origin; the public map; keyboard-only
submission with the API's errors next to the fields; axe-core on every page; screenshots."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from devstack.stack import LocalStack
from tests.e2e.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    check_accessibility,
    jpeg,
    reload_until,
    shot,
    sign_in,
    visit,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
    ),
]

# A submission waits for its photos' upload and the gateway's answer: on a loaded machine that is
# more than expect()'s default 5 s.
SUBMITTED_MS = 30_000


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
def web(stack: LocalStack) -> str:
    return stack.url("web")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_page(browser: Browser, viewport: dict[str, int] = DESKTOP, javascript: bool = True) -> Page:
    context = await browser.new_context(viewport=viewport, locale="ru-RU", java_script_enabled=javascript)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None
        ),
    )
    page.csp_errors = errors  # type: ignore[attr-defined]
    return page


async def test_citizen_and_operator_take_an_appeal_through_its_whole_life(
    browser: Browser, web: str, tmp_path: Path
) -> None:
    citizen = await new_page(browser)
    operator = await new_page(browser)

    # The citizen signs in on the dev page and fills the form: topic by typing, place on the map, a photo.
    await citizen.goto(f"{web}/")
    await visit(citizen, "home")
    await citizen.goto(f"{web}/signin")
    await visit(citizen, "signin")
    await sign_in(citizen, web, unique("anna"), next_url="/appeals/new")
    await expect(citizen.get_by_role("heading", name="Новое обращение")).to_be_visible()
    await citizen.get_by_label("Жалоба").check()
    await expect(citizen.get_by_label("Найти тему")).to_be_visible()  # wired by app.js
    await citizen.get_by_label("Найти тему").fill("уличное освещ")
    await expect(citizen.locator("#topic")).to_have_value("landscaping.street_lighting")
    await citizen.get_by_label("Кратко о проблеме").fill("Не горит фонарь у дома 7")
    await citizen.get_by_label("Что случилось").fill(
        "Фонарь у подъезда 2 дома 7 по улице Мира не горит с понедельника."
    )
    await citizen.get_by_label("Адрес").fill("Демоград, ул. Мира, 7")
    await citizen.locator("path.area-demograd").click(force=True)  # the map under it takes the click
    await expect(citizen.get_by_label("Широта")).not_to_have_value("")
    await citizen.get_by_label(re.compile("Добавить фотографии")).set_input_files(jpeg(tmp_path / "lamp.jpg"))
    await expect(citizen.locator("#previews li.uploaded")).to_have_count(1)
    await citizen.get_by_label("Электронная почта для ответа (необязательно)").fill("anna@example.org")
    await visit(citizen, "appeal-form")
    await citizen.get_by_role("button", name="Отправить обращение").click()

    # The number at once; routing picks the organisation a moment later.
    flash = citizen.locator(".flash.success")
    await expect(flash).to_contain_text("Обращение принято. Его номер:")
    number = (await flash.text_content() or "").rsplit(":", 1)[1].strip()
    assert re.fullmatch(r"\d{4}-\d{6}", number), number
    await reload_until(citizen, "#appeal-status", "Направлено в организацию")
    await expect(citizen.locator("#appeal-org")).to_have_text("Администрация города Демоград")
    await expect(citizen.locator(".photos img")).to_have_count(1)
    # Chromium 156 refuses wait_for_function's string predicate under our CSP (no eval): poll
    # the element's own property instead, then check the loaded image has a size.
    await expect(citizen.locator(".photos img")).to_have_js_property("complete", True)
    assert await citizen.locator(".photos img").evaluate("img => img.naturalWidth") > 0
    appeal_url = citizen.url
    await visit(citizen, "appeal-routed")

    # The operator of the city administration finds it in the queue and takes it.
    await sign_in(operator, web, unique("op"), "operator", "city-admin", next_url="/work")
    await expect(operator.get_by_role("heading", name="Очередь организации")).to_be_visible()
    await visit(operator, "operator-queue")
    # The filters (htmx swaps the table in place; the same form works as a plain GET without script).
    await operator.get_by_label("Просрочено").check()
    await expect(operator.get_by_text("С такими фильтрами ничего нет.")).to_be_visible()
    await expect(operator).to_have_url(re.compile(r"overdue=1"))
    await operator.get_by_label("Просрочено").uncheck()
    await operator.get_by_label("Статус").select_option("routed")
    await expect(operator.get_by_role("link", name=number)).to_be_visible()
    await operator.get_by_role("link", name=number).click()
    await visit(operator, "operator-card")
    await operator.get_by_role("button", name="Взять", exact=True).click()
    await expect(operator.locator("#appeal-status")).to_have_text("В работе")
    await operator.get_by_label("Вопрос").fill("Уточните, пожалуйста, номер опоры.")
    await operator.get_by_role("button", name="Запросить уточнение").click()
    await expect(operator.locator("#appeal-status")).to_have_text("Запрошено уточнение")

    # The citizen replies to the clarification request.
    await citizen.goto(appeal_url)
    await expect(citizen.get_by_text("Уточните, пожалуйста, номер опоры.").first).to_be_visible()
    await visit(citizen, "appeal-clarification")
    await citizen.get_by_label("Ваш ответ").fill("Опора № 14, напротив подъезда 2.")
    await citizen.get_by_role("button", name="Отправить ответ").click()
    await expect(citizen.locator("#appeal-status")).to_have_text("В работе")

    # The answer; the citizen rates it 2, which sends it back for re-review.
    await operator.reload()
    await operator.get_by_label("Ответ гражданину").fill("Лампа заменена.")
    await operator.get_by_role("button", name="Отправить ответ").click()
    await expect(operator.locator("#appeal-status")).to_have_text("Дан ответ")
    await citizen.reload()
    await expect(citizen.locator(".answer").get_by_text("Лампа заменена.")).to_be_visible()
    await visit(citizen, "appeal-answered")
    await citizen.get_by_label("2", exact=True).check()
    await citizen.get_by_role("button", name="Оценить").click()
    await expect(citizen.locator(".flash")).to_contain_text("повторное рассмотрение")
    await expect(citizen.locator("#appeal-status")).to_have_text("На повторном рассмотрении")

    # Re-review: the operator saves an answer template, takes the appeal again and starts the
    # answer from the template; the citizen rates 5.
    card_url = operator.url
    await operator.get_by_role("link", name="Шаблоны ответов").click()
    await operator.get_by_label("Название").fill("Светильник заменён")
    await operator.get_by_label("Текст").fill("Заменён светильник целиком, проверено вечером.")
    await operator.get_by_role("button", name="Сохранить").click()
    await expect(operator.get_by_role("heading", name="Светильник заменён")).to_be_visible()
    await visit(operator, "operator-templates")
    await operator.goto(card_url)
    await operator.get_by_role("button", name="Взять", exact=True).click()
    await expect(operator.locator("#appeal-status")).to_have_text("В работе")
    await operator.get_by_label("Начать с сохранённого ответа").select_option(label="Светильник заменён")
    await expect(operator.get_by_label("Ответ гражданину")).to_have_value(
        "Заменён светильник целиком, проверено вечером."
    )
    await operator.get_by_role("button", name="Отправить ответ").click()
    await expect(operator.locator("#appeal-status")).to_have_text("Дан ответ")
    await citizen.reload()
    await citizen.get_by_label("5", exact=True).check()
    await citizen.get_by_role("button", name="Оценить").click()
    await expect(citizen.locator(".flash")).to_contain_text("Спасибо за оценку")
    await expect(citizen.get_by_text("оценка 5 из 5")).to_be_visible()
    await visit(citizen, "appeal-rated")

    # "My appeals" and the in-app feed with its unread count.
    await citizen.get_by_role("link", name="Мои обращения").first.click()
    await expect(citizen.get_by_text(number)).to_be_visible()
    await visit(citizen, "my-appeals")
    await citizen.get_by_role("link", name="Уведомления").click()
    await expect(citizen.locator("#unread-count")).to_contain_text(re.compile(r"Непрочитанных: [1-9]"))
    await visit(citizen, "feed")
    await operator.goto(f"{web}/work/stats")
    await expect(operator.get_by_role("heading", name="Администрация города Демоград")).to_be_visible()
    await visit(operator, "operator-stats")

    # The public map (no sign-in) shows the appeal's zone: its municipality and topic.
    public = await new_page(browser)
    await public.goto(f"{web}/map")
    await reload_until(
        public,
        "tr[data-area=demograd][data-topic='landscaping.street_lighting']",
        "Не работает уличное освещение",
        timeout=60,
    )
    await expect(public.locator("path.area-demograd.zone-active")).to_have_count(1)
    await visit(public, "public-map")

    # Still not satisfied after rating: escalation to the supervising organisation.
    await citizen.goto(appeal_url)
    await citizen.get_by_role("button", name="Эскалация").click()
    await expect(citizen.locator(".flash")).to_contain_text("Запрошена эскалация")
    await reload_until(citizen, "#appeal-org", "Администрация Демонстрационной области")
    for page in (citizen, operator, public):
        assert not page.csp_errors, page.csp_errors  # type: ignore[attr-defined]


async def test_keyboard_only_submission_with_errors_next_to_the_fields(browser: Browser, web: str) -> None:
    page = await new_page(browser)
    await sign_in(page, web, unique("boris"), next_url="/appeals/new")

    async def tab_to(element_id: str) -> None:
        for _ in range(60):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    await tab_to("topic-filter")
    await page.keyboard.type("ямы")
    await tab_to("summary")
    await page.keyboard.type("Ям")  # too short for the gateway: its error must appear by the field
    await tab_to("description")
    await page.keyboard.type("Глубокая яма на проезжей части у остановки «Школа».")
    await tab_to("email")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator("#summary-error")).to_have_text("Слишком коротко")
    await expect(page.locator("#summary")).to_have_attribute("aria-invalid", "true")
    await visit(page, "appeal-form-errors")

    await page.locator("body").focus()
    await tab_to("summary")
    await page.keyboard.type("а на дороге у остановки")
    await tab_to("address")
    await page.keyboard.type("Демоград, ул. Школьная, 3")
    await tab_to("email")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator(".flash.success")).to_contain_text("Обращение принято", timeout=SUBMITTED_MS)


class _HostPage(BaseHTTPRequestHandler):
    snippet = ""

    def do_GET(self) -> None:
        body = f"<!doctype html><html lang=ru><title>Сайт администрации</title><h1>Администрация</h1>{self.snippet}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def host_site(web: str) -> Iterator[str]:
    """Another origin (another loopback port) embedding the widget snippet."""
    _HostPage.snippet = f'<script src="{web}/static/widget.js" data-topics="roads.*" async></script>'
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_widget_opens_the_form_from_another_origin(
    browser: Browser, web: str, host_site: str, tmp_path: Path
) -> None:
    page = await new_page(browser)
    await page.goto(host_site)
    button = page.get_by_role("link", name="Сообщить о проблеме")
    await expect(button).to_be_visible()
    async with page.context.expect_page() as popup_info:
        await button.click()
    form = await popup_info.value
    await form.wait_for_load_state()
    await expect(form.get_by_role("heading", name="Войти")).to_be_visible()  # first sign in, then the form
    await form.get_by_text("Другой пользователь").click()
    await form.get_by_label("Идентификатор пользователя").fill(unique("vera"))
    await form.locator("details form button[type=submit]").click()
    await expect(form.get_by_role("heading", name="Новое обращение")).to_be_visible()
    codes = await form.locator("#topic option[value]:not([value=''])").evaluate_all(
        "os => os.map(o => o.value)"
    )
    assert codes and all(code.startswith("roads.") for code in codes), codes
    await expect(form.locator("input[name=channel]")).to_have_value("widget")
    # the search box appears once app.js has wired it: typing before that would filter nothing
    await expect(form.get_by_label("Найти тему")).to_be_visible()
    await form.get_by_label("Найти тему").fill("ямы")
    await expect(form.locator("#topic")).to_have_value("roads.potholes")
    await form.get_by_label("Кратко о проблеме").fill("Яма у въезда во двор")
    await form.get_by_label("Что случилось").fill("Яма у въезда во двор дома 12, колёса проваливаются.")
    await form.get_by_label("Адрес").fill("Демоград, ул. Садовая, 12")
    # The photo's GPS position is offered; it becomes the place only when the person accepts it.
    await form.get_by_label(re.compile("Добавить фотографии")).set_input_files(
        jpeg(tmp_path / "pothole.jpg", gps=(57.6561, 43.7652))
    )
    await expect(form.get_by_label("Широта")).to_have_value("")
    await form.get_by_role("button", name="Взять место из фотографии").click()
    await expect(form.get_by_label("Широта")).to_have_value(re.compile(r"^57\.656"))
    await expect(form.get_by_label("Долгота")).to_have_value(re.compile(r"^43\.765"))
    await form.get_by_role("button", name="Отправить обращение").click()
    await expect(form.locator(".flash.success")).to_contain_text("Обращение принято", timeout=SUBMITTED_MS)
    await shot(page, "widget-host")


async def test_pages_at_phone_width(browser: Browser, web: str) -> None:
    """360 px: the main pages are usable (no horizontal scroll) and pass axe."""
    page = await new_page(browser, PHONE)
    await page.goto(f"{web}/map")
    await visit(page, "phone-map")
    await sign_in(page, web, unique("galina"), next_url="/appeals/new")
    await visit(page, "phone-appeal-form")
    for name in ("phone-appeal-form",):
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name}: {width}px wide"
    await page.goto(f"{web}/widget")
    await check_accessibility(page, "widget")
    await shot(page, "widget-docs")


async def test_without_javascript_a_citizen_sends_an_appeal_with_a_photo(
    browser: Browser, web: str, tmp_path: Path
) -> None:
    """Progressive enhancement: the plain HTML form, the photo posted with it, the point typed in."""
    page = await new_page(browser, PHONE, javascript=False)
    await sign_in(page, web, unique("dmitry"), next_url="/appeals/new")
    await expect(page.locator("#pick-map")).to_be_hidden()  # the map needs script; the fields do not
    await page.get_by_label("Вопрос").check()
    await page.get_by_label("Тема", exact=True).select_option("roads.potholes")
    await page.get_by_label("Кратко о проблеме").fill("Когда отремонтируют дорогу?")
    await page.get_by_label("Что случилось").fill("Дорога на улице Лесной разбита, когда ремонт?")
    await page.get_by_label("Широта").fill("57.6571")
    await page.get_by_label("Долгота").fill("43.7646")
    await page.get_by_label(re.compile("Добавить фотографии")).set_input_files(jpeg(tmp_path / "road.jpg"))
    await page.get_by_role("button", name="Отправить обращение").click()
    await expect(page.locator(".flash.success")).to_contain_text("Обращение принято", timeout=SUBMITTED_MS)
    await expect(page.locator(".photos img")).to_have_count(1)
    await reload_until(page, "#appeal-status", "Направлено в организацию")
    await visit(page, "phone-appeal", check=False)  # axe itself is a script: it ran on these pages above
    await page.get_by_role("link", name="Мои обращения").click()
    await visit(page, "phone-my-appeals", check=False)
