"""The report pages: the reports queue, a report with its decision forms, the logged
reveal, files, the search box, mailbox letter entry and the monthly figures.

Every route takes the logged-in :class:`~intake.web.auth.Viewer`; every POST checks the
CSRF token; every report route checks :func:`~intake.reports.routing.visibility` and
answers 404 for a report outside it, so a cadre of the village a complaint is about learns
nothing, not even that it exists. Moves go through :func:`intake.reports.procedure.apply`
only, which checks :func:`~intake.reports.routing.may_act`.
"""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated aliases.

import logging
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from intake import audit
from intake.attachments import Attachment
from intake.policy import Policy
from intake.reports.figures import figures_rows, figures_xlsx, monthly_figures
from intake.reports.filing import ReportError, file_report, local_day
from intake.reports.kinds import ReportKind, ReportRules, SubjectKind, report_rules
from intake.reports.models import SUBJECT_KIND, Report, ReportAttachment, find_report
from intake.reports.procedure import Action, ProcedureError, apply
from intake.reports.routing import may_act, visibility
from intake.tracking import new_tracking_code, normalize_tracking_code
from intake.users import User
from intake.web import auth
from intake.web.auth import Viewer
from intake.web.deps import WebDeps
from intake.web.errors import route_class
from intake.web.export_pages import XLSX, record_download, unit_name
from intake.web.files import file_response
from intake.web.render import page
from intake.web.reports import letters
from intake.web.reports.labels import FAMILIES
from intake.web.reports.listing import ReportFilters, report_page
from intake.web.reports.search import search
from intake.web.reports.view import load_report_view, reveal_value

logger = logging.getLogger(__name__)
#: Free-text fields of the decision forms, kept as typed when a move is refused.
ACT_FIELDS = ("assignee_id", "answer", "referred_to", "into", "item_code", "reason")
_REVEALABLE = {"phone": "report.phone_revealed", "id": "report.id_revealed"}


def report_label(family: str, key: str) -> str:
    """The message id naming ``key`` of a report family (the key itself if unknown)."""
    return FAMILIES[family].get(key, key)


def localized(message: str, locale: str) -> str:
    """One half of a bilingual ``"中文 / English"`` refusal, in the viewer's language."""
    zh, sep, en = message.partition(" / ")
    return (en if locale == "en" else zh) if sep else message


def build_reports_router(deps: WebDeps) -> APIRouter:
    """The report pages' routes under ``/cadre``."""
    router = APIRouter(prefix="/cadre", tags=["cadre"], route_class=route_class(deps))

    def current(request: Request) -> Viewer:
        return auth.viewer(request, deps)

    def acting(request: Request) -> Viewer:
        viewer = auth.viewer(request, deps)
        if not viewer.scope.can_act:
            raise HTTPException(status_code=403, detail="operators only read")
        return viewer

    Current = Annotated[Viewer, Depends(current)]
    Acting = Annotated[Viewer, Depends(acting)]

    @router.get("/reports", response_class=HTMLResponse)
    def reports(request: Request, viewer: Current) -> Response:
        villages = viewer.scope.villages(deps.policies)
        filters = ReportFilters.parse(request.query_params, {code for code, _ in villages})
        with deps.db.read() as db:
            data = report_page(db, viewer.scope, filters, today=local_day(deps.clock()))
        context = _context(deps, viewer) | {
            "data": data,
            "villages": villages,
            "village_names": dict(villages),
            "kinds": [k.value for k in ReportKind],
            "states": list(FAMILIES["state"]),
        }
        return page(request, "reports.html", viewer.locale, context)

    @router.get("/search", response_class=HTMLResponse)
    def search_page(request: Request, viewer: Current) -> Response:
        typed = request.query_params.get("q") or ""
        with deps.db.read() as db:
            found = search(db, viewer.scope, deps.cipher, typed) if typed.strip() else None
        context = _context(deps, viewer) | {"found": found, "q": typed}
        return page(request, "search.html", viewer.locale, context)

    @router.get("/reports/letter", response_class=HTMLResponse)
    def letter_form(request: Request, viewer: Acting) -> Response:
        return _letter_page(request, deps, viewer, letters.LetterForm())

    @router.post("/reports/letter", response_class=HTMLResponse)
    async def letter_submit(request: Request, viewer: Acting) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        form = await request.form()
        typed = _letter_typed(form)
        upload = form.get("photo")
        photo: tuple[bytes, str | None] | None = None
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read(letters.MAX_PHOTO_BYTES + 1)
            photo = (content, upload.filename) if content else None
        return await run_in_threadpool(_file_letter, request, deps, viewer, typed, photo)

    @router.get("/reports/figures", response_class=HTMLResponse)
    def figures_page(request: Request, viewer: Acting) -> Response:
        year, month = _month(request, deps)
        policy = _policy(deps, viewer)
        with deps.db.read() as db:
            figures = monthly_figures(
                db,
                scope=viewer.scope,
                year=year,
                month=month,
                calendar=deps.calendar,
                today=local_day(deps.clock()),
            )
        context = _context(deps, viewer) | {
            "figures": figures,
            "rows": figures_rows(figures, report_rules(policy)),
            "month": f"{year:04d}-{month:02d}",
            "unit": unit_name(deps, viewer, None),
        }
        return page(request, "report_figures.html", viewer.locale, context)

    @router.get("/reports/figures.xlsx")
    def figures_download(request: Request, viewer: Acting) -> Response:
        year, month = _month(request, deps)
        policy = _policy(deps, viewer)
        now = deps.clock()
        with deps.db.write() as db:
            figures = monthly_figures(
                db,
                scope=viewer.scope,
                year=year,
                month=month,
                calendar=deps.calendar,
                today=local_day(now),
            )
            record_download(db, viewer, "report_figures", None, figures.total, now)
        body = figures_xlsx(figures, report_rules(policy), unit_name(deps, viewer, None))
        label = quote(f"群众反映月报{year}年{month}月")
        disposition = (
            f'attachment; filename="report-figures-{year:04d}{month:02d}.xlsx"; '
            f"filename*=UTF-8''{label}.xlsx"
        )
        return Response(
            body,
            media_type=XLSX,
            headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
        )

    @router.get("/reports/{report_id:int}", response_class=HTMLResponse)
    def report_page_route(request: Request, report_id: int, viewer: Current) -> Response:
        return _report_response(request, deps, viewer, report_id)

    @router.post("/reports/{report_id:int}/act", response_class=HTMLResponse)
    async def act(request: Request, report_id: int, viewer: Current) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        form = await request.form()
        typed = {name: str(form.get(name) or "") for name in (*ACT_FIELDS, "action")}
        return await run_in_threadpool(_act, request, deps, viewer, report_id, typed)

    @router.post("/reports/{report_id:int}/reveal/{what}", response_class=HTMLResponse)
    async def reveal(request: Request, report_id: int, what: str, viewer: Current) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        if what not in _REVEALABLE:
            raise HTTPException(status_code=404)
        value = await run_in_threadpool(_reveal, deps, viewer, report_id, what)
        context = {"value": value or "", "what": what, "source": "item"}
        return page(request, "_revealed.html", viewer.locale, context)

    @router.get("/reports/{report_id:int}/attachments/{attachment_id:int}")
    async def attachment(
        request: Request, report_id: int, attachment_id: int, viewer: Current
    ) -> Response:
        row, content = await run_in_threadpool(_opened, deps, viewer, report_id, attachment_id)
        mime = row.mime
        if content is None:
            opener = deps.attachment_openers.get(row.channel)
            if opener is None:
                raise HTTPException(status_code=404, detail="the channel keeps no file")
            try:
                content, mime = await opener(row)
            except Exception as error:
                logger.warning("could not fetch report attachment %s: %s", row.id, type(error))
                raise HTTPException(status_code=502, detail="the channel gave no file") from None
        return file_response(row, content, mime, _file_name(deps, row))

    return router


def _file_name(deps: WebDeps, row: Attachment) -> str | None:
    """The file name the uploader gave, decrypted."""
    return deps.cipher.unseal(row.file_name_cipher)


def _context(deps: WebDeps, viewer: Viewer) -> dict[str, Any]:
    return {"viewer": viewer, "csrf": viewer.csrf, "rl": report_label, "now": deps.clock()}


def _policy(deps: WebDeps, viewer: Viewer) -> Policy:
    return deps.policies.get(viewer.scope.region_code or "") or next(iter(deps.policies.values()))


def _rules_of(deps: WebDeps, report: Report) -> ReportRules:
    policy = deps.policies.get(report.region_code) or next(iter(deps.policies.values()))
    return report_rules(policy)


def _month(request: Request, deps: WebDeps) -> tuple[int, int]:
    """``?month=YYYY-MM``, the current month if missing or not a month."""
    today = local_day(deps.clock())
    typed = request.query_params.get("month") or ""
    try:
        year, month = (int(part) for part in typed.split("-"))
        date(year, month, 1)
    except ValueError:
        return today.year, today.month
    return year, month


def _scoped(db: Session, viewer: Viewer, report_id: int, *, lock: bool = False) -> Report:
    query = select(Report).where(Report.id == report_id)
    if lock and db.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    report = db.exec(query).first()
    if report is None or not visibility(viewer.scope)(report):
        raise HTTPException(status_code=404, detail="no such report")
    return report


def _report_response(
    request: Request,
    deps: WebDeps,
    viewer: Viewer,
    report_id: int,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with deps.db.read() as db:
        report = _scoped(db, viewer, report_id)
        view = load_report_view(
            db,
            report,
            scope=viewer.scope,
            cipher=deps.cipher,
            rules=_rules_of(deps, report),
            calendar=deps.calendar,
            names=(
                deps.village_name(report.village_code),
                deps.township_name(report.township_code),
            ),
            today=local_day(deps.clock()),
        )
    context = _context(deps, viewer) | {"view": view, "error": error, "typed": typed or {}}
    return page(request, "report.html", viewer.locale, context, status_code=status_code)


def _facts(db: Session, viewer: Viewer, typed: dict[str, str]) -> dict[str, Any]:
    """The decision form's facts as :func:`~intake.reports.procedure.apply` takes them."""
    facts: dict[str, Any] = {"answer": typed["answer"], "referred_to": typed["referred_to"]}
    facts["item_code"] = typed["item_code"]
    raw = typed["assignee_id"].strip()
    facts["assignee_id"] = int(raw) if raw.isdigit() else None
    code = normalize_tracking_code(typed["into"]) if typed["into"].strip() else None
    target = find_report(db, code) if code else None
    if target is not None and visibility(viewer.scope)(target):
        facts["into"] = target.id
    return facts


def _act(
    request: Request, deps: WebDeps, viewer: Viewer, report_id: int, typed: dict[str, str]
) -> Response:
    """Carry out the form's move, or show the page again with the form as typed."""
    try:
        action = Action(typed["action"])
    except ValueError:
        raise HTTPException(status_code=422, detail="no such action") from None
    try:
        with deps.db.write() as db:
            report = _scoped(db, viewer, report_id, lock=True)
            user = db.get(User, viewer.user.id)
            assert user is not None
            apply(
                db,
                report,
                action,
                user=user,
                cipher=deps.cipher,
                now=deps.clock(),
                reason=typed["reason"],
                facts=_facts(db, viewer, typed),
                post=deps.post_notice,  # the answer reaches a named reporter's chat
                rules=_rules_of(deps, report),
            )
    except ProcedureError as refused:
        status = 403 if not viewer.scope.can_act else 422
        message = localized(str(refused), viewer.locale)
        return _report_response(request, deps, viewer, report_id, message, typed, status)
    return RedirectResponse(f"/cadre/reports/{report_id}", status_code=303)


def _reveal(deps: WebDeps, viewer: Viewer, report_id: int, what: str) -> str | None:
    """The named reporter's full phone or ID number, the reveal recorded in the history."""
    assert viewer.user.id is not None
    with deps.db.write() as db:
        report = _scoped(db, viewer, report_id)
        if not may_act(viewer.scope, report):
            raise HTTPException(status_code=404, detail="not for your level")
        value = reveal_value(deps.cipher, report, what)
        assert report.id is not None
        audit.record(
            db,
            actor=audit.user_actor(viewer.user.id),
            action=_REVEALABLE[what],
            subject_kind=SUBJECT_KIND,
            subject_id=report.id,
            at=deps.clock(),
        )
    return value


def _opened(
    deps: WebDeps, viewer: Viewer, report_id: int, attachment_id: int
) -> tuple[Attachment, bytes | None]:
    """The report's file (its bytes when uploaded here), its opening in the history."""
    assert viewer.user.id is not None
    with deps.db.write() as db:
        report = _scoped(db, viewer, report_id)
        if not may_act(viewer.scope, report):  # like a phone: a letter may carry a name
            raise HTTPException(status_code=404, detail="not for your level")
        link = db.exec(
            select(ReportAttachment).where(
                ReportAttachment.report_id == report_id,
                ReportAttachment.attachment_id == attachment_id,
            )
        ).first()
        row = db.get(Attachment, attachment_id) if link is not None else None
        if row is None:
            raise HTTPException(status_code=404, detail="no such attachment")
        content = letters.photo_bytes(db, deps.cipher, row)
        audit.record(
            db,
            actor=audit.user_actor(viewer.user.id),
            action="report.attachment_opened",
            subject_kind=SUBJECT_KIND,
            subject_id=report_id,
            at=deps.clock(),
            data={"attachment": attachment_id},
        )
    return row, content


def _letter_typed(form: Any) -> letters.LetterForm:
    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    return letters.LetterForm(
        kind=text("kind", 16),
        village=text("village", 64),
        subject=text("subject", 16),
        subject_name=text("subject_name", 200),
        village_told=text("village_told", 8) in ("on", "1", "true"),
        text=text("text", 10_000),
        letter_date=text("letter_date", 32),
        signed=text("signed", 8) in ("on", "1", "true"),
        reporter_name=text("reporter_name", 200),
        phone=text("phone", 64),
    )


def _letter_page(
    request: Request,
    deps: WebDeps,
    viewer: Viewer,
    typed: letters.LetterForm,
    error: str | None = None,
    filed: Report | None = None,
    status_code: int = 200,
) -> Response:
    context = _context(deps, viewer) | {
        "typed": typed,
        "error": error,
        "filed": filed,
        "villages": viewer.scope.villages(deps.policies),
        "kinds": [k.value for k in ReportKind],
        "subjects": [s.value for s in SubjectKind],
        "today": local_day(deps.clock()).isoformat(),
    }
    return page(request, "report_letter.html", viewer.locale, context, status_code=status_code)


def _file_letter(
    request: Request,
    deps: WebDeps,
    viewer: Viewer,
    typed: letters.LetterForm,
    photo: tuple[bytes, str | None] | None,
) -> Response:
    """File the letter (and its photo) in one transaction, or show the form again."""
    assert viewer.user.id is not None
    now = deps.clock()
    village_ok = not typed.village or typed.village in {
        code for code, _ in viewer.scope.villages(deps.policies)
    }
    try:
        if not village_ok:
            raise letters.LetterError("cadre.letter.bad_village")
        day = letters.letter_date(typed.letter_date, now)
        policy = _policy(deps, viewer)
        rules = report_rules(policy)
        if typed.kind in set(ReportKind) and typed.subject not in rules.kind(typed.kind).subjects:
            raise letters.LetterError("cadre.letter.bad_subject")
        with deps.db.write() as db:
            report = file_report(
                db,
                typed.draft(),
                policy=policy,
                rules=rules,
                cipher=deps.cipher,
                calendar=deps.calendar,
                new_code=new_tracking_code,
                now=now,
                actor=audit.user_actor(viewer.user.id),
            )
            if photo is not None:
                stored = letters.store_photo(
                    db, deps.cipher, content=photo[0], file_name=photo[1], now=now
                )
                letters.link_photo(db, report, stored)
            letters.record_letter(
                db,
                report,
                actor=audit.user_actor(viewer.user.id),
                day=day,
                now=now,
                photo=photo is not None,
            )
    except letters.LetterError as refused:
        return _letter_page(request, deps, viewer, typed, refused.code, status_code=422)
    except ReportError as refused:
        message = localized(str(refused), viewer.locale)
        return _letter_page(request, deps, viewer, typed, message, status_code=422)
    return _letter_page(request, deps, viewer, letters.LetterForm(), filed=report)
