"""The citizen's pages: the new appeal form, "My appeals", the appeal page (timeline, reply to a
clarification request, answer, rating, escalation), the in-app feed, and photos."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from services.web.gateway import GatewayError
from services.web.i18n import N_
from services.web.pages import (
    checked_form,
    field_errors,
    gateway_of,
    redirect,
    render,
    require_person,
    topic_name,
)
from services.web.settings import WebSettings

KINDS = ("complaint", "proposal", "question", "gratitude")
LOW_RATING = 2  # intake: a rating of 1 or 2 sends the appeal back for re-review (docs/api.md)


def topic_groups(topics: list[dict[str, Any]], only: str | None) -> list[tuple[str, list[dict[str, Any]]]]:
    """Topics grouped by category name, in catalogue order; `only` ("roads.*,landscaping.trees")
    keeps the topics a widget was set up for (prefix patterns or exact codes)."""
    patterns = [p.strip() for p in (only or "").split(",") if p.strip()]

    def wanted(code: str) -> bool:
        return not patterns or any(
            code == p or (p.endswith("*") and code.startswith(p[:-1])) for p in patterns
        )

    groups: dict[str, list[dict[str, Any]]] = {}
    for topic in topics:
        if wanted(topic["code"]):
            groups.setdefault(topic["category"], []).append(topic)
    return list(groups.items())


def _float(value: Any) -> float | None:
    try:
        return float(str(value).replace(",", ".")) if str(value or "").strip() else None
    except ValueError:
        return None


def appeal_body(form: Any, media_ids: list[str]) -> dict[str, Any]:
    """The gateway's AppealCreate from the form's fields (the gateway validates it)."""
    location: dict[str, Any] = {}
    if address := str(form.get("address") or "").strip():
        location["address"] = address
    lat, lon = form.get("lat"), form.get("lon")
    if str(lat or "").strip() or str(lon or "").strip():
        location["lat"], location["lon"] = _float(lat), _float(lon)
    email = str(form.get("email") or "").strip()
    channel = "widget" if form.get("channel") == "widget" else "web"
    return {
        "kind": str(form.get("kind") or ""),
        "topic": str(form.get("topic") or ""),
        "summary": str(form.get("summary") or ""),
        "description": str(form.get("description") or ""),
        "location": location,
        "media_ids": media_ids,
        "contact": {"email": email} if email else {},
        "channel": channel,
    }


def citizen_router(settings: WebSettings) -> APIRouter:
    """The citizen's pages. Gateway refusals a person can correct (409/413/422/429) are shown on the
    page again with the fields' errors; other GatewayErrors are re-raised for the app's error page
    (401: sign in again)."""
    router = APIRouter(tags=["citizen"])
    upload_limits = {"max_files": settings.max_photos, "max_part_size": settings.max_photo_bytes}

    async def form_page(request: Request, status: int = 200, **context: Any) -> Response:
        topics = await gateway_of(request).cached("/topics")
        only = context.pop("only", None)
        values = context.pop("values", {})
        return render(
            request,
            "appeal_new.html",
            status,
            groups=topic_groups(topics, only),
            only=only or "",
            kinds=KINDS,
            values=values,
            idem=values.get("idem") or secrets.token_urlsafe(16),
            **context,
        )

    @router.get("/appeals/new")
    async def new_appeal(request: Request, topics: str | None = None, channel: str = "web") -> Response:
        require_person(request, "citizen")
        return await form_page(request, only=topics, values={"channel": channel})

    async def upload_stored(request: Request, token: str, photo: UploadFile) -> dict[str, Any]:
        content = await photo.read()
        files = {
            "file": (photo.filename or "photo", content, photo.content_type or "application/octet-stream")
        }
        stored: dict[str, Any] = await gateway_of(request).call("POST", "/media", token, files=files)
        return stored

    async def upload(request: Request, token: str, photo: UploadFile) -> str:
        return str((await upload_stored(request, token, photo))["id"])

    @router.post("/appeals/new")
    async def submit(request: Request) -> Response:
        """The new-appeal form posted: its photos are uploaded first, then the appeal is submitted
        (idempotent through the form's `idem`). Errors the person can fix are shown on the form
        (422); other gateway errors go to the error page."""
        session = require_person(request, "citizen")
        form = await checked_form(request, **upload_limits)
        media_ids = [str(v) for v in form.getlist("media_ids") if str(v).strip()]
        values = {
            k: form.get(k)
            for k in (
                "kind",
                "topic",
                "summary",
                "description",
                "address",
                "lat",
                "lon",
                "email",
                "channel",
                "idem",
            )
        }
        errors: dict[str, str] = {}
        try:
            for photo in form.getlist("photos"):
                if isinstance(photo, UploadFile) and photo.filename:
                    media_ids.append(await upload(request, str(session.token), photo))
        except GatewayError as exc:
            if exc.status >= 500:
                raise
            errors["photos"] = N_(
                "This file cannot be attached: send a photo (JPEG, PNG, WebP) of up to 10 MB"
            )
        if not errors:
            headers = {"Idempotency-Key": str(form.get("idem") or secrets.token_urlsafe(16))[:100]}
            try:
                created = await gateway_of(request).call(
                    "POST", "/appeals", session.token, json=appeal_body(form, media_ids), headers=headers
                )
            except GatewayError as exc:
                if exc.status not in (409, 413, 422, 429):
                    raise
                errors = field_errors(exc) or {"form": exc.detail}
                if exc.status == 429:
                    errors = {"form": N_("Too many appeals in a minute: wait a little and send again")}
            else:
                request.state.session.flash = f"number:{created['number']}"
                return redirect(f"/appeals/{created['id']}")
        return await form_page(
            request,
            422,
            only=str(form.get("only") or "") or None,
            values=values,
            errors=errors,
            media_ids=media_ids,
        )

    @router.post("/appeals/photos")
    async def upload_photo(request: Request) -> Response:
        """For the form's script: one photo uploaded at once (with a progress bar), its media id back."""
        session = require_person(request, "citizen")
        form = await checked_form(request, max_files=1, max_part_size=settings.max_photo_bytes)
        photo = form.get("photo")
        if not isinstance(photo, UploadFile):
            return JSONResponse({"error": "no file"}, status_code=422)
        try:
            stored = await upload_stored(request, str(session.token), photo)
        except GatewayError as exc:
            return JSONResponse({"error": exc.detail}, status_code=exc.status if exc.status < 500 else 502)
        # Where the photo was taken (media reads it from the GPS tags before stripping them, and
        # shows it to its owner only): the form offers it; it is used only if the person agrees.
        return JSONResponse({"id": stored["id"], "location_hint": stored.get("location_hint")})

    @router.get("/appeals")
    async def my_appeals(request: Request, status: str | None = None, offset: int = 0) -> Response:
        session = require_person(request)
        if session.is_operator:
            return redirect("/work")
        params = {"status": status, "limit": 20, "offset": max(offset, 0)}
        page = await gateway_of(request).call("GET", "/appeals", session.token, params=params)
        return render(request, "appeals.html", page=page, status=status or "")

    @router.get("/appeals/{appeal_id}")
    async def appeal_page(request: Request, appeal_id: str) -> Response:
        session = require_person(request)
        if session.is_operator:
            return redirect(f"/work/appeals/{appeal_id}")
        return render(request, "appeal.html", **await appeal_context(request, appeal_id))

    async def appeal_context(request: Request, appeal_id: str) -> dict[str, Any]:
        """The appeal, its topic's name and what the public sees of it (the author's view).

        Re-raises GatewayError from reading the appeal, and from the publication only at 5xx."""
        session = require_person(request)
        gateway = gateway_of(request)
        appeal = await gateway.call("GET", f"/appeals/{appeal_id}", session.token)
        publication = None
        if session.role == "citizen":
            try:
                publication = await gateway.call("GET", f"/appeals/{appeal_id}/publication", session.token)
            except GatewayError as exc:
                if exc.status >= 500:
                    raise
        name = await topic_name(request, appeal["topic"])
        return {"appeal": appeal, "topic_name": name, "publication": publication}

    @router.post("/appeals/{appeal_id}/{action}")
    async def citizen_action(request: Request, appeal_id: str, action: str) -> Response:
        """comment (also the reply to a clarification request), rating, escalate, publication (the
        author's public choice: `public` = "true" or "false").

        A 409, 422 or 429 is shown on the appeal's page; other gateway errors go to the error page."""
        session = require_person(request, "citizen")
        form = await checked_form(request)
        body: dict[str, Any] | None
        method, path = "POST", action
        if action == "publication":
            method, body = "PUT", {"public": form.get("public") == "true"}
        elif action == "comment":
            body = {"text": str(form.get("text") or "")}
        elif action == "rating":
            body = {
                "score": int(str(form.get("score") or 0)) if str(form.get("score") or "").isdigit() else 0
            }
        elif action == "escalate":
            body = None
        else:
            return render(request, "error.html", 404, message="not_found")
        try:
            path = "comments" if action == "comment" else path
            await gateway_of(request).call(method, f"/appeals/{appeal_id}/{path}", session.token, json=body)
        except GatewayError as exc:
            if exc.status not in (409, 422, 429):
                raise
            if exc.status == 409:  # someone else moved the appeal on meanwhile
                exc.detail = N_("This step is not possible now: the appeal has changed. Reload the page.")
            if exc.status == 429:
                exc.detail = N_("Too many changes: wait a minute")
            errors = {action: field_errors(exc).get("text") or field_errors(exc).get("score") or exc.detail}
            context = await appeal_context(request, appeal_id)
            return render(request, "appeal.html", 422, errors=errors, **context)
        messages = {
            "comment": N_("Sent"),
            "rating": N_("Thank you for the rating"),
            "escalate": N_("Escalation requested"),
            "publication": N_("The appeal is public now")
            if body and body.get("public")
            else N_("The appeal is private now"),
        }
        message = messages[action]
        if action == "rating" and body and body["score"] <= LOW_RATING:
            message = N_(
                "Thank you. A rating of 1 or 2 sends the appeal back to the organisation for re-review"
            )
        return redirect(f"/appeals/{appeal_id}", message, request)

    @router.get("/feed")
    async def feed(request: Request, offset: int = 0) -> Response:
        session = require_person(request)
        params = {"limit": 20, "offset": max(offset, 0)}
        page = await gateway_of(request).call("GET", "/me/notifications", session.token, params=params)
        return render(request, "feed.html", page=page)

    @router.get("/feed/unread")
    async def unread(request: Request) -> Response:
        """The header's badge (htmx fetches it): the number of unread notifications."""
        session = require_person(request)
        page = await gateway_of(request).call("GET", "/me/notifications", session.token, params={"limit": 1})
        return render(request, "_unread.html", unread=page.get("unread", 0))

    @router.post("/feed/read-all")
    async def read_all(request: Request) -> Response:
        session = require_person(request)
        await checked_form(request)
        await gateway_of(request).call("POST", "/me/notifications/read-all", session.token)
        return redirect("/feed")

    @router.get("/media/{media_id}")
    async def media(request: Request, media_id: str, variant: str = "thumb") -> Response:
        """A photo of an appeal the person may see, fetched through the gateway's signed link.

        Re-raises GatewayError for the original or a 401/403; another variant falls back to the
        original."""
        session = require_person(request)
        gateway = gateway_of(request)
        kind = variant if variant in ("thumb", "web", "original") else "thumb"
        try:
            url = await gateway.media_link(session.token, media_id, kind)
            content, content_type = await gateway.fetch_media(url, settings.max_photo_bytes * 2)
        except GatewayError as exc:
            # A fresh upload's smaller copies may still be in the making: show the original.
            if kind == "original" or exc.status in (401, 403):
                raise
            url = await gateway.media_link(session.token, media_id, "original")
            content, content_type = await gateway.fetch_media(url, settings.max_photo_bytes * 2)
        if not content_type.startswith("image/"):
            content_type = "application/octet-stream"
        headers = {"Cache-Control": "private, max-age=300", "Content-Disposition": "inline"}
        return Response(content, media_type=content_type, headers=headers)

    return router
