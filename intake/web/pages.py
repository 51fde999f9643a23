"""The cadre pages: login, the queue, an item, its actions and the logged reveal.

Every route but the login page takes the logged-in :class:`~intake.web.auth.Viewer`
first; every POST checks the CSRF token; every item route checks the item against the
viewer's scope and answers 404 for an item outside it, so nothing leaks, not even that
the item exists.
"""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated aliases.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from intake import audit
from intake.applications import Application
from intake.attachments import Attachment
from intake.households import Household, accept_details
from intake.notices import notice_sink
from intake.procedure import ProcedureError, apply, available
from intake.queue import ItemKind, ItemStatus, QueueItem
from intake.users import end_sessions
from intake.web import auth
from intake.web.auth import Viewer
from intake.web.deps import WebDeps
from intake.web.errors import route_class
from intake.web.files import served
from intake.web.forms import Typed
from intake.web.item_view import household_is_home, load_item_view, reveal_value
from intake.web.labels import ERROR
from intake.web.login import submit as submit_login
from intake.web.queue_view import Filters, queue_page
from intake.web.render import page, translator

_ERROR_STATUS = {"forbidden": 403, "out_of_scope": 404, "illegal": 409, "notice_running": 409}
_FACTS = ("home_visit", "consent_confirmed", "applicant_asked", "meeting_result", "helper")
_FACTS_MORE: tuple[str, ...] = ("measures", "measures_due", "reason_detail", "merge_into")
_FACTS_MORE += ("outcome", "helper_name", "helper_phone", "helper_work_unit")
#: What the reveal button can show: the ID number, the filing's phone, the household's.
_REVEALABLE = ("id", "phone", "household_phone")


def build_router(deps: WebDeps) -> APIRouter:
    """The cadre pages' routes under ``/cadre``."""
    router = APIRouter(prefix="/cadre", tags=["cadre"], route_class=route_class(deps))

    def current(request: Request) -> Viewer:
        return auth.viewer(request, deps)

    Current = Annotated[Viewer, Depends(current)]

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        session = auth.anonymous_session(request, deps)
        response = page(request, "login.html", "zh_CN", {"csrf": session.csrf, "error": None})
        auth.write_session(response, deps, session)
        return response

    @router.post("/login")
    async def login(request: Request) -> Response:
        return await submit_login(request, deps)

    @router.post("/logout")
    async def logout(request: Request, viewer: Current) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        await run_in_threadpool(_logout, deps, viewer)
        response = RedirectResponse("/cadre/login", status_code=303)
        response.delete_cookie(auth.COOKIE, path="/")
        return response

    @router.get("/", response_class=HTMLResponse)
    def queue(request: Request, viewer: Current) -> Response:
        villages = viewer.scope.villages(deps.policies)
        filters = Filters.parse(request.query_params, {code for code, _ in villages})
        with deps.db.read() as db:
            data = queue_page(db, viewer.scope, filters, now=deps.clock(), calendar=deps.calendar)
        # htmx asks for the list alone, except when it restores history after "back": then
        # (HX-History-Restore-Request) it replaces the whole page with what it gets.
        partial = (
            request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true"
        )
        context = _queue_context(deps, viewer, data, villages)
        response = page(
            request, "_queue_rows.html" if partial else "queue.html", viewer.locale, context
        )
        response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
        return response

    @router.get("/items/{item_id}", response_class=HTMLResponse)
    def item_page(request: Request, item_id: int, viewer: Current) -> Response:
        return _item_response(request, deps, viewer, item_id)

    @router.post("/items/{item_id}/reveal/{what}", response_class=HTMLResponse)
    async def reveal(request: Request, item_id: int, what: str, viewer: Current) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        if what not in _REVEALABLE or not viewer.scope.can_act:
            raise HTTPException(status_code=404)
        value, source = await run_in_threadpool(_reveal, deps, viewer, item_id, what)
        context = {"value": value or "", "what": what, "source": source}
        return page(request, "_revealed.html", viewer.locale, context)

    @router.post("/items/{item_id}/accept-details")
    async def accept(request: Request, item_id: int, viewer: Current) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        if not viewer.scope.can_act:
            raise HTTPException(status_code=404)
        await run_in_threadpool(_accept_details, deps, viewer, item_id)
        return RedirectResponse(f"/cadre/items/{item_id}", status_code=303)

    @router.get("/items/{item_id}/attachments/{attachment_id}")
    async def attachment_file(
        request: Request, item_id: int, attachment_id: int, viewer: Current
    ) -> Response:
        if not viewer.scope.can_act:  # like full ID numbers: a photo may show an ID card
            raise HTTPException(status_code=404)
        row = await run_in_threadpool(_opened, deps, viewer, item_id, attachment_id)
        return await served(row, deps.attachment_openers[row.channel], deps.cipher)

    @router.post("/items/{item_id}/attachments/{attachment_id}/listened")
    async def listened(
        request: Request, item_id: int, attachment_id: int, viewer: Current
    ) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        if not viewer.scope.can_act:
            raise HTTPException(status_code=404)
        await run_in_threadpool(_listened, deps, viewer, item_id, attachment_id)
        return RedirectResponse(f"/cadre/items/{item_id}#attachments", status_code=303)

    @router.post("/items/{item_id}/act")
    async def act(request: Request, item_id: int, viewer: Current) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        form = await request.form()
        return await run_in_threadpool(_act, request, deps, viewer, item_id, form)

    return router


def _logout(deps: WebDeps, viewer: Viewer) -> None:
    """End the session on the server too: the cookie's epoch is no longer the user's."""
    assert viewer.user.id is not None
    with deps.db.write() as db:
        end_sessions(db, viewer.user.id, now=deps.clock())


def _reveal(deps: WebDeps, viewer: Viewer, item_id: int, what: str) -> tuple[str | None, str]:
    """The full value and whose it is, recorded in the item's timeline as a reveal."""
    with deps.db.write() as db:
        item = _scoped_item(db, viewer, item_id)
        value, source = reveal_value(db, deps, viewer.scope, item, what)
        action = "item.id_revealed" if what == "id" else "item.phone_revealed"
        _on_timeline(db, deps, viewer, item, action, {"whose": source})
    return value, source


def _accept_details(deps: WebDeps, viewer: Viewer, item_id: int) -> None:
    """Take the filing's name, phone and size as the household's, on the timeline.

    Only for a cadre whose scope holds the household's own village: a filing from
    anywhere can name any ID number, so the household's village decides. Anyone else
    gets 404, as for an item outside their scope.
    """
    with deps.db.write() as db:
        item = _scoped_item(db, viewer, item_id, lock=True)
        application = db.exec(
            select(Application).where(Application.queue_item_id == item.id)
        ).first()
        household = (
            db.get(Household, application.household_id)
            if application and application.household_id
            else None
        )
        if application is None or household is None:
            raise HTTPException(status_code=404, detail="no household")
        if not household_is_home(deps, viewer.scope, household):
            raise HTTPException(status_code=404, detail="not the household's village")
        size = (application.answers or {}).get("household_size")
        changed = accept_details(
            household,
            deps.cipher,
            head_name=application.head_name,
            phone=deps.cipher.unseal(application.phone_cipher),
            size=size if isinstance(size, int) else None,
            now=deps.clock(),
        )
        if changed:
            db.add(household)
            _on_timeline(db, deps, viewer, item, "household.details_accepted", {"changed": changed})


def _opened(deps: WebDeps, viewer: Viewer, item_id: int, attachment_id: int) -> Attachment:
    """The item's attachment, its opening recorded in the item's timeline; 404 otherwise."""
    with deps.db.write() as db:
        item = _scoped_item(db, viewer, item_id)
        row = db.get(Attachment, attachment_id)
        openable = row is not None and row.channel in deps.attachment_openers
        if row is None or row.queue_item_id != item.id or not openable:
            raise HTTPException(status_code=404, detail="no such attachment")
        data = {"attachment": row.id, "kind": row.kind}
        _on_timeline(db, deps, viewer, item, "item.attachment_opened", data)
    return row


def _listened(deps: WebDeps, viewer: Viewer, item_id: int, attachment_id: int) -> None:
    """A cadre listened to a voice note: the 待听取 mark goes, the timeline says who."""
    with deps.db.write() as db:
        item = _scoped_item(db, viewer, item_id)
        row = db.get(Attachment, attachment_id)
        if row is None or row.queue_item_id != item.id:
            raise HTTPException(status_code=404, detail="no such attachment")
        if not row.needs_listening:
            return  # a second click (or a second cadre) changes nothing
        row.needs_listening = False
        db.add(row)
        _on_timeline(db, deps, viewer, item, "item.voice_listened", {"attachment": row.id})


def _on_timeline(
    db: Session,
    deps: WebDeps,
    viewer: Viewer,
    item: QueueItem,
    action: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Record what this user did with the item in its timeline (the audit log)."""
    assert item.id is not None and viewer.user.id is not None
    audit.record(
        db,
        actor=audit.user_actor(viewer.user.id),
        action=action,
        subject_kind="queue_item",
        subject_id=item.id,
        at=deps.clock(),
        data=data,
    )


def _scoped_item(db: Session, viewer: Viewer, item_id: int, *, lock: bool = False) -> QueueItem:
    query = select(QueueItem).where(QueueItem.id == item_id)
    if lock and db.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    item = db.exec(query).first()
    if item is None or not viewer.scope.allows(item):
        raise HTTPException(status_code=404, detail="no such item")
    return item


def _queue_context(
    deps: WebDeps, viewer: Viewer, data: Any, villages: list[tuple[str, str]]
) -> dict[str, Any]:
    risk_types = [(rt.code, rt.name) for p in deps.policies.values() for rt in p.risk_types]
    return {
        "viewer": viewer,
        "csrf": viewer.csrf,
        "data": data,
        "villages": villages,
        "village_names": dict(villages),
        "risk_types": list(dict(risk_types).items()),
        "statuses": [s.value for s in ItemStatus],
        "kinds": [k.value for k in ItemKind],
        "now": deps.clock(),
    }


def _item_response(
    request: Request,
    deps: WebDeps,
    viewer: Viewer,
    item_id: int,
    error: str | None = None,
    status_code: int = 200,
    typed: Typed | None = None,
) -> Response:
    with deps.db.read() as db:
        item = _scoped_item(db, viewer, item_id)
        view = load_item_view(db, deps, viewer, item)
    context = {
        "viewer": viewer,
        "csrf": viewer.csrf,
        "view": view,
        "error": error,
        "typed": typed,
        "now": deps.clock(),
    }
    return page(request, "item.html", viewer.locale, context, status_code=status_code)


def _facts(form: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {name: form.get(name) for name in (*_FACTS, *_FACTS_MORE)}
    facts["risk_codes"] = list(form.getlist("risk_codes"))
    return facts


def _act(request: Request, deps: WebDeps, viewer: Viewer, item_id: int, form: Any) -> Response:
    """Carry out the form's action, or show the page again with the form as typed."""
    assert viewer.user.id is not None
    typed = Typed.of(form)
    try:
        with deps.db.write() as db:
            item = _scoped_item(db, viewer, item_id, lock=True)
            typed = _with_missing(typed, item, viewer)
            if typed.missing:  # all of them at once, before the procedure names the first
                fields = ",".join(typed.missing)
                raise ProcedureError("missing_fact", f"empty: {fields}", fact=fields)
            sink = notice_sink(deps.post_notice, deps.policy_of) if deps.post_notice else None
            apply(
                db,
                item,
                typed.action,
                scope=viewer.scope,
                actor=audit.user_actor(viewer.user.id),
                policy=deps.policy_of(item),
                calendar=deps.calendar,
                now=deps.clock(),
                cipher=deps.cipher,
                reason=typed.value("reason"),
                facts=_facts(form),
                sink=sink,
            )
    except ProcedureError as error:
        status = _ERROR_STATUS.get(error.code, 422)
        message = error_message(viewer.locale, error)
        typed = typed.refused(error.code)
        return _item_response(request, deps, viewer, item_id, message, status, typed)
    return RedirectResponse(f"/cadre/items/{item_id}", status_code=303)


def _with_missing(typed: Typed, item: QueueItem, viewer: Viewer) -> Typed:
    """``typed`` with the empty required fields of its action (if the action is open)."""
    for transition in available(item, viewer.scope):
        if transition.action.value == typed.action:
            return typed.with_missing(transition)
    return typed


def error_message(locale: str, error: ProcedureError) -> str:
    """The cadre's message for a refused action, with actions and statuses by name."""
    t = translator(locale)
    params = dict(error.params)
    if "action" in params:
        params["action"] = t.label("action", params["action"])
    if "status" in params:
        params["status"] = t.label("status", params["status"])
    if "allowed" in params:
        names = [t.label("action", a.strip()) for a in params["allowed"].split(",")]
        params["allowed"] = "、".join(names)
    if "fact" in params:
        names = [t.label("fact", name) for name in params["fact"].split(",")]
        params["fact"] = (", " if t.locale == "en" else "、").join(names)
    return str(t(ERROR.get(error.code, ERROR["illegal"]), **params))
