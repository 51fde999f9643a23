"""Export routes (roster, measures ledger, screening forms, public notice) and the account page.

Exports are limited to the viewer's scope (and to one village of it when asked); each
download is recorded in the audit log, since the roster and ledger carry ID numbers.
Hotline operators only read the queue: they get 403 here.
"""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated aliases.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from intake import audit, exports, public_notice
from intake.crypto import FieldCipher
from intake.helpers.links import LINK_LIFETIME, deep_link_payload, new_user_link_code
from intake.policy import Policy
from intake.users import Scope, User
from intake.web import auth
from intake.web.auth import Viewer
from intake.web.deps import WebDeps
from intake.web.errors import route_class
from intake.web.render import page
from intake.workdays import SHANGHAI

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Sheet = Callable[[Session, Scope, FieldCipher, dict[str, Policy], str | None], list[list[Any]]]
Book = Callable[[list[list[Any]], str, datetime], bytes]


def _screening(
    db: Session, scope: Scope, cipher: FieldCipher, _p: dict[str, Policy], village: str | None
) -> list[list[Any]]:
    return exports.screening_rows(db, scope, cipher, village)


_SHEETS: dict[str, tuple[Sheet, Book, str]] = {
    "roster": (exports.roster_rows, exports.roster_xlsx, "花名册"),
    "measures": (exports.measures_rows, exports.measures_xlsx, "帮扶措施台账"),
    "screening": (_screening, exports.screening_xlsx, "入户排查表"),
    "reports": (exports.reports_rows, exports.reports_xlsx, "群众反映登记表"),
}


def _village(request: Request, viewer: Viewer, deps: WebDeps) -> str | None:
    wanted = request.query_params.get("village") or None
    if wanted is None:
        return None
    if wanted not in {code for code, _ in viewer.scope.villages(deps.policies)}:
        raise HTTPException(status_code=404, detail="no such village in your area")
    return wanted


def unit_name(deps: WebDeps, viewer: Viewer, village: str | None) -> str:
    """The unit an export is for: the village asked for, or the viewer's place."""
    scope = viewer.scope
    if village:
        return deps.village_name(village)
    if scope.village_code:
        return deps.village_name(scope.village_code)
    if scope.township_code:
        return deps.township_name(scope.township_code)
    policy = deps.policies.get(scope.region_code or "")
    return policy.region.name if policy else "全部"


def record_download(
    db: Session,
    viewer: Viewer,
    kind: str,
    village: str | None,
    count: int,
    at: datetime,
    form: str = "xlsx",
) -> None:
    """Record a download in the audit log (rows counted, never their content)."""
    assert viewer.user.id is not None
    audit.record(
        db,
        actor=audit.user_actor(viewer.user.id),
        action="export.downloaded",
        subject_kind="user",
        subject_id=viewer.user.id,
        at=at,
        data={"export": kind, "village": village, "rows": count, "format": form},
    )


def build_export_router(deps: WebDeps) -> APIRouter:
    """Routes under ``/cadre/exports``."""
    router = APIRouter(prefix="/cadre", tags=["cadre"], route_class=route_class(deps))

    def acting(request: Request) -> Viewer:
        viewer = auth.viewer(request, deps)
        if not viewer.scope.can_act:
            raise HTTPException(status_code=403, detail="operators cannot export")
        return viewer

    Acting = Annotated[Viewer, Depends(acting)]

    @router.get("/exports", response_class=HTMLResponse)
    def export_index(request: Request, viewer: Acting) -> Response:
        context = {
            "viewer": viewer,
            "csrf": viewer.csrf,
            "villages": viewer.scope.villages(deps.policies),
        }
        return page(request, "exports.html", viewer.locale, context)

    @router.get("/exports/{kind}.xlsx")
    def export_sheet(request: Request, kind: str, viewer: Acting) -> Response:
        if kind not in _SHEETS:
            raise HTTPException(status_code=404)
        rows_of, book, label = _SHEETS[kind]
        village = _village(request, viewer, deps)
        now = deps.clock()
        with deps.db.write() as db:
            rows = rows_of(db, viewer.scope, deps.cipher, deps.policies, village)
            record_download(db, viewer, kind, village, len(rows), now)
        body = book(rows, unit_name(deps, viewer, village), now)
        filename = f"{kind}-{now:%Y%m%d}.xlsx"
        disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(label)}.xlsx"
        headers = {"Content-Disposition": disposition}
        return Response(body, media_type=XLSX, headers={**headers, "Cache-Control": "no-store"})

    @router.get("/exports/notice", response_class=HTMLResponse)
    def notice_page(request: Request, viewer: Acting) -> Response:
        village = _village(request, viewer, deps)
        now = deps.clock()
        with deps.db.write() as db:  # the printable list is a download too: logged
            rows = public_notice.notice_rows(db, viewer.scope, deps.policies, village, now=now)
            record_download(db, viewer, "notice", village, len(rows), now, "html")
        context = {
            "viewer": viewer,
            "rows": rows,
            "unit": unit_name(deps, viewer, village),
            "hotline": _hotline(deps, viewer),
            "issuer": _issuer(deps, viewer, village, rows, now),
            "empty_text": public_notice.EMPTY_TEXT,
        }
        return page(request, "notice_print.html", viewer.locale, context)

    @router.get("/exports/notice.pdf")
    def notice_pdf(request: Request, viewer: Acting) -> Response:
        village = _village(request, viewer, deps)
        now = deps.clock()
        with deps.db.write() as db:
            rows = public_notice.notice_rows(db, viewer.scope, deps.policies, village, now=now)
            record_download(db, viewer, "notice", village, len(rows), now, "pdf")
        unit = unit_name(deps, viewer, village)
        title = f"{unit}防止返贫监测对象纳入公示"
        footer = _notice_footer(_hotline(deps, viewer))
        issuer = _issuer(deps, viewer, village, rows, now)
        body = public_notice.notice_pdf(rows, title, footer, issuer)
        return Response(
            body,
            media_type="application/pdf",
            headers={"Content-Disposition": 'inline; filename="notice.pdf"'},
        )

    return router


def build_account_router(deps: WebDeps) -> APIRouter:
    """The account page: language and the chat account linked for the daily digest."""
    router = APIRouter(prefix="/cadre", tags=["cadre"], route_class=route_class(deps))

    def current(request: Request) -> Viewer:
        return auth.viewer(request, deps)

    Current = Annotated[Viewer, Depends(current)]

    @router.get("/account", response_class=HTMLResponse)
    def account(request: Request, viewer: Current) -> Response:
        return page(request, "account.html", viewer.locale, {"viewer": viewer, "csrf": viewer.csrf})

    @router.post("/account")
    async def account_save(request: Request, viewer: Current) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        form = await request.form()
        await run_in_threadpool(_save_language, deps, viewer, str(form.get("language") or ""))
        return RedirectResponse("/cadre/account", status_code=303)

    @router.post("/account/link-code", response_class=HTMLResponse)
    async def account_link_code(request: Request, viewer: Current) -> Response:
        """A one-time code the cadre types (or opens as ``/start h_…``) in the chat that is to
        receive the digest: the chat is linked only by someone who holds the code."""
        await auth.check_csrf(request, viewer.csrf)
        code = await run_in_threadpool(_new_link_code, deps, viewer)
        context = {
            "viewer": viewer,
            "csrf": viewer.csrf,
            "link_code": code,
            "link_payload": deep_link_payload(code),
            "link_hours": int(LINK_LIFETIME.total_seconds() // 3600),
        }
        return page(request, "account.html", viewer.locale, context)

    return router


def _save_language(deps: WebDeps, viewer: Viewer, language: str) -> None:
    """Store the user's language (only the two the pages speak)."""
    if language not in ("zh_CN", "en"):
        return
    with deps.db.write() as db:
        user = db.get(User, viewer.user.id)
        assert user is not None
        user.language = language
        db.add(user)


def _new_link_code(deps: WebDeps, viewer: Viewer) -> str:
    with deps.db.write() as db:
        assert viewer.user.id is not None
        return new_user_link_code(
            db,
            deps.cipher,
            user_id=viewer.user.id,
            actor=audit.user_actor(viewer.user.id),
            now=deps.clock(),
        )


def _issuer(
    deps: WebDeps,
    viewer: Viewer,
    village: str | None,
    rows: list[public_notice.NoticeRow],
    now: datetime,
) -> public_notice.Issuer:
    """Who signs the notice: the village committee and its township, or the townships."""
    code = village or viewer.scope.village_code
    if code:
        township = next(
            (t for p in deps.policies.values() if (t := p.township_of(code)) is not None), None
        )
        townships = [township.name] if township else []
    elif viewer.scope.township_code:
        townships = [deps.township_name(viewer.scope.township_code)]
    else:
        townships = [row.township for row in rows]
    region = unit_name(deps, viewer, None)
    today = now.astimezone(SHANGHAI).date()
    name = deps.village_name(code) if code else None
    return public_notice.issuer_of(name, townships, region, today)


def _hotline(deps: WebDeps, viewer: Viewer) -> str | None:
    policy = deps.policies.get(viewer.scope.region_code or "") or next(iter(deps.policies.values()))
    return policy.region.hotline


def _notice_footer(hotline: str | None) -> str:
    text = (
        "以上农户经村级评议、乡镇审核，拟纳入防止返贫监测对象，现予公示。"
        "公示期间如有异议，请向村委会或乡镇反映"
    )
    return f"{text}，监督电话：{hotline}。" if hotline else f"{text}。"
