"""The web frontend without a browser: its security (CSRF, cookie, CSP, no token in pages or
URLs, safe redirects), errors next to the fields, the widget's topic filter and the message
catalogue. The gateway is a fake answering through an httpx transport (tests/unit/web_fakes.py)."""

from __future__ import annotations

import re

import httpx
import pytest

from services.web.citizen_routes import appeal_body, topic_groups
from services.web.gateway import GatewayError
from services.web.pages import field_errors, safe_next
from services.web.session import Session, SessionCodec
from services.web.texts import local_due
from tests.unit import web_fakes
from tests.unit.web_fakes import DEV_TOKEN, TOPICS, FakeWorld, client_for, csrf_of, dev_sign_in, web, world

__all__ = ["web", "world"]  # fixtures


async def test_every_form_post_without_the_csrf_token_is_refused(web: httpx.AsyncClient) -> None:
    await web.get("/signin")
    for path, data in [
        ("/signin", {"person": "resident-anna"}),
        ("/signout", {}),
        ("/appeals/new", {"summary": "x"}),
        ("/appeals/a1/rating", {"score": "5"}),
        ("/work/appeals/a1/answer", {"text": "x"}),
        ("/feed/read-all", {}),
    ]:
        for token in (None, "forged"):
            body = dict(data, **({"csrf_token": token} if token else {}))
            response = await web.post(path, data=body)
            # Signed-out POSTs to personal pages go to sign-in first; none of them acts.
            assert response.status_code in (303, 403), (path, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/signin")
    signed = await dev_sign_in(web)
    assert signed.status_code == 303
    for path in ("/signout", "/feed/read-all", "/appeals/new"):
        assert (await web.post(path, data={"csrf_token": "forged"})).status_code == 403, path


async def test_the_session_cookie_is_httponly_samesite_and_hides_the_token(web: httpx.AsyncClient) -> None:
    response = await dev_sign_in(web)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert DEV_TOKEN not in cookie  # encrypted, not just signed
    page = await web.get("/appeals")
    assert page.status_code == 200
    assert DEV_TOKEN not in page.text and DEV_TOKEN not in str(page.url)


async def test_https_deployments_get_secure_host_only_cookies(world: FakeWorld) -> None:
    async for client in client_for(world, public_url="https://appeals.example"):
        response = await client.get("/")
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-appeals-session=") and "Secure" in cookie


async def test_pages_carry_a_strict_content_security_policy(web: httpx.AsyncClient) -> None:
    for path in ("/", "/signin", "/widget"):
        response = await web.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text  # no inline script anywhere
        assert not re.search(r"\son[a-z]+=", response.text)  # no inline event handlers


def test_a_tampered_or_foreign_cookie_is_no_session() -> None:
    codec = SessionCodec("secret-one", 3600)
    value = codec.dumps(Session(token="t", sub="s", role="citizen"))
    assert codec.loads(value) is not None
    assert codec.loads(value[:-4] + "AAAA") is None
    assert SessionCodec("secret-two", 3600).loads(value) is None
    assert codec.loads("garbage") is None


def test_sign_in_returns_only_to_a_path_of_this_site() -> None:
    for bad in (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "",
        None,
        "javascript:alert(1)",
    ):
        assert safe_next(bad) == "/"
    assert safe_next("/appeals/new?topics=roads.*") == "/appeals/new?topics=roads.*"


async def test_the_gateway_field_errors_are_shown_next_to_the_field(
    web: httpx.AsyncClient, world: FakeWorld
) -> None:
    await dev_sign_in(web)
    form = await web.get("/appeals/new")
    world.submit_status = 422
    data = {
        "csrf_token": csrf_of(form.text),
        "kind": "complaint",
        "topic": "roads.potholes",
        "summary": "Ям",
        "description": "Яма",
        "address": "Демоград",
        "idem": "k-1",
    }
    response = await web.post("/appeals/new", data=data)
    assert response.status_code == 422
    assert 'id="summary-error"' in response.text and "Слишком коротко" in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="Ям"' in response.text  # what was typed is kept
    world.submit_status = 201
    sent = await web.post("/appeals/new", data=data)
    assert sent.status_code == 303 and sent.headers["location"] == "/appeals/a1"
    # The same form sent twice carries the same Idempotency-Key: a retry never makes two appeals.
    keys = {r["headers"]["idempotency-key"] for r in world.appeal_requests}
    assert keys == {"k-1"}


def test_field_errors_cover_nested_places_and_unknown_types() -> None:
    error = GatewayError(
        422,
        "bad",
        [
            {"loc": ["body", "location"], "msg": "Value error, give a point", "type": "value_error"},
            {"loc": ["body", "contact", "email"], "msg": "bad email", "type": "value_error"},
            {"loc": ["body", "kind"], "msg": "x", "type": "something_new"},
        ],
    )
    assert field_errors(error) == {
        "location": "Give an address or pick a point on the map",
        "contact": "Check the e-mail address",
        "kind": "Check this value",
    }


def test_the_widget_topics_filter_keeps_only_the_organisations_topics() -> None:
    groups = topic_groups(TOPICS, "roads.*")
    assert [(name, [t["code"] for t in items]) for name, items in groups] == [
        ("Дороги", ["roads.potholes", "roads.bridges"])
    ]
    assert len(topic_groups(TOPICS, "health.appointment,roads.bridges")) == 2
    assert sum(len(items) for _, items in topic_groups(TOPICS, None)) == 3


def test_the_form_becomes_the_gateway_appeal() -> None:
    form = {
        "kind": "complaint",
        "topic": "roads.potholes",
        "summary": "Яма",
        "description": "Глубокая",
        "address": " ул. Мира, 5 ",
        "lat": "57,65",
        "lon": "43.77",
        "email": "",
        "channel": "widget",
    }
    body = appeal_body(form, ["m1"])
    assert body["location"] == {"address": "ул. Мира, 5", "lat": 57.65, "lon": 43.77}
    assert body["contact"] == {} and body["channel"] == "widget" and body["media_ids"] == ["m1"]


def test_every_text_of_the_interface_has_its_russian_translation() -> None:
    """The message ids in the templates and the code (`_()`, `N_()`) are all in the ru catalogue."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir

    from services.web.i18n import translations

    root = Path(__file__).resolve().parents[2] / "services" / "web"
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(root), method_map, options_map=options, keywords={"_": None, "N_": None}
        )
    }
    assert len(found) > 150
    catalogue = translations("ru")
    untranslated = sorted(m for m in found if catalogue.gettext(m) == m)
    assert not untranslated, untranslated


async def test_the_session_ends_its_lifetime_after_sign_in_not_after_the_last_click(
    web: httpx.AsyncClient,
) -> None:
    """The cookie is rewritten only when the session changes, so its age counts from sign-in."""
    signed = await dev_sign_in(web)
    assert "set-cookie" in signed.headers
    page = await web.get("/appeals")
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert "set-cookie" not in (await web.get("/health")).headers


async def test_photos_come_through_the_web_and_the_signed_link_stays_on_the_server(
    web: httpx.AsyncClient,
) -> None:
    assert (await web.get("/media/m1")).status_code == 303  # signed out: sign in first
    await dev_sign_in(web)
    photo = await web.get("/media/m1?variant=thumb")  # no thumbnail: the original instead
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.content.startswith(b"\xff\xd8")
    assert "Signature" not in str(photo.headers)


async def test_a_short_deadline_topic_shows_its_minutes(
    web: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = {
        **TOPICS[0],
        "code": "dev.short_sla",
        "name": "Демо",
        "answer_sla_days": 1,
        "answer_sla_minutes": 2,
    }
    monkeypatch.setattr(web_fakes, "TOPICS", [*TOPICS, short])
    await dev_sign_in(web)
    form = (await web.get("/appeals/new")).text
    assert "Демо (ответ за 2 мин.)" in form
    assert "Ямы (ответ за 30 дн.)" in form


async def test_a_public_appeal_has_a_page_of_its_own(web: httpx.AsyncClient, world: FakeWorld) -> None:
    world.public_appeals["2026-000042"] = {
        "number": "2026-000042",
        "kind": "complaint",
        "topic": "roads.potholes",
        "status": "answered",
        "organization": "Дорожная служба",
        "area_id": None,
        "summary": "Яма у дома 5",
        "description": "Глубокая яма. Звоните: [скрыто]",
        "address": "ул. Садовая, 5",
        "lat": 57.65,
        "lon": 43.77,
        "created_at": "2026-11-30T10:00:00Z",
        "answers": [{"text": "Яму заделали.", "at": "2026-11-30T12:00:00Z"}],
    }
    page = await web.get("/public-appeals/2026-000042")  # no sign-in
    assert page.status_code == 200
    for shown in ("№ 2026-000042 · Яма у дома 5", "Ямы", "Дорожная служба", "[скрыто]", "Яму заделали."):
        assert shown in page.text
    assert 'href="/public-appeals"' in page.text

    missing = await web.get("/public-appeals/2026-000043")  # not public (or no such appeal)
    assert missing.status_code == 404
    asked = len(world.paths)
    malformed = await web.get("/public-appeals/not-a-number")
    assert malformed.status_code == 404 and len(world.paths) == asked  # never sent to the gateway


def test_a_deadline_shows_its_time_only_when_it_does_not_end_the_day() -> None:
    assert local_due("2026-12-20T20:59:59Z") == "20.12.2026"  # 23:59:59 in Moscow: the day is the deadline
    assert local_due("2026-11-30T19:26:05Z") == "30.11.2026 22:26"  # the demo's one-minute deadline
    assert local_due(None) == ""
