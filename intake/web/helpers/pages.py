"""The helpers pages: helpers per village or township, a helper, a household, the overdue
list and the visit log download. Scoped like every cadre page (404 outside the scope)."""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated aliases.

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from intake import audit
from intake.attachments import Attachment
from intake.crypto import FieldCipherError
from intake.helpers.assignments import current_assignment
from intake.helpers.links import LINK_LIFETIME, deep_link_payload, new_link_code
from intake.helpers.measures import late_measures
from intake.helpers.models import Helper, HelperState, HelpReview, Visit
from intake.helpers.overview import helper_rows
from intake.helpers.visit_files import files_of, visit_file
from intake.helpers.visit_log import visit_log_rows, visit_log_xlsx
from intake.helpers.visits import (
    escalation_level,
    household_states,
    overdue_households,
    period_of,
    shift_period,
)
from intake.households import Household
from intake.procedure import Enrollment, enrolment_text
from intake.queue import QueueItem
from intake.web import auth
from intake.web.auth import Viewer
from intake.web.deps import WebDeps
from intake.web.errors import route_class
from intake.web.files import served
from intake.web.helpers.access import (
    can_invite,
    helpers_policy_for,
    scoped_helper,
    scoped_household,
    townships_of,
    villages_of,
)
from intake.web.item_view import attachment_view
from intake.web.render import page
from intake.workdays import SHANGHAI

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PERIOD = re.compile(r"^20[0-9]{2}-(0[1-9]|1[0-2])$")
#: Names of a visit's mode, a missed visit's reason, a check and an income source.
MODES = {
    "in_person": "helpers.page.mode.in_person",
    "phone": "helpers.page.mode.phone",
    "not_visited": "helpers.page.mode.not_visited",
}
REASONS = {
    "away_for_work": "helpers.page.reason.away_for_work",
    "in_hospital": "helpers.page.reason.in_hospital",
    "refused": "helpers.page.reason.refused",
    "other": "helpers.page.reason.other",
}
CHECK_NAMES = {
    "food": "helpers.page.check.food",
    "clothing": "helpers.page.check.clothing",
    "education": "helpers.page.check.education",
    "medical": "helpers.page.check.medical",
    "housing": "helpers.page.check.housing",
    "water": "helpers.page.check.water",
}
INCOME_NAMES = {
    "wages": "helpers.page.income.wages",
    "farm_business": "helpers.page.income.farm_business",
    "property": "helpers.page.income.property",
    "transfers": "helpers.page.income.transfers",
}
STATE_NAMES = {
    "not_due": "helpers.page.state.not_due",
    "due": "helpers.page.state.due",
    "done": "helpers.page.state.done",
    "done_by_phone": "helpers.page.state.done_by_phone",
    "not_done": "helpers.page.state.not_done",
    "overdue": "helpers.page.state.overdue",
}
CATEGORY_NAMES = {
    "general": "helpers.page.category.general",
    "monitored": "helpers.page.category.monitored",
    "followup": "helpers.page.category.followup",
    "exited": "helpers.page.category.exited",
}
OUTCOME_LABELS = {
    "risk_eliminated": "cadre.outcome.risk_eliminated",
    "help_continues": "cadre.outcome.help_continues",
    "exit": "cadre.outcome.exit",
    "help_again": "cadre.outcome.help_again",
}


def _period(raw: str | None, default: str) -> str:
    if not raw:
        return default
    if not _PERIOD.match(raw):
        raise HTTPException(status_code=422, detail="not a month")
    return raw


def _village_filter(request: Request, villages: dict[str, str]) -> set[str]:
    wanted = request.query_params.get("village") or None
    if wanted is None:
        return set(villages)
    if wanted not in villages:
        raise HTTPException(status_code=404, detail="no such village in your area")
    return {wanted}


def build_pages_router(deps: WebDeps) -> APIRouter:
    """Routes under ``/cadre/helpers`` (the roster upload has its own module)."""
    router = APIRouter(prefix="/cadre/helpers", tags=["cadre"], route_class=route_class(deps))

    def current(request: Request) -> Viewer:
        return auth.viewer(request, deps)

    Current = Annotated[Viewer, Depends(current)]

    def base(viewer: Viewer, **more: Any) -> dict[str, Any]:
        return {"viewer": viewer, "csrf": viewer.csrf, "deps": deps, "states": STATE_NAMES,
                **more}  # fmt: skip

    @router.get("", response_class=HTMLResponse)
    def index(request: Request, viewer: Current) -> Response:
        villages = villages_of(deps, viewer)
        chosen = _village_filter(request, villages)
        hp = helpers_policy_for(deps, viewer)
        one = request.query_params.get("village") or None
        with deps.db.read() as db:
            rows = helper_rows(db, villages=chosen, townships=set() if one else
                               townships_of(deps, viewer), now=deps.clock(),
                               followup_months=hp.followup_visit_months)  # fmt: skip
        context = base(viewer, rows=rows, villages=villages, village=one,
                       period=period_of(deps.clock().astimezone(SHANGHAI).date()))  # fmt: skip
        return page(request, "helpers/index.html", viewer.locale, context)

    @router.get("/overdue", response_class=HTMLResponse)
    def overdue(request: Request, viewer: Current) -> Response:
        villages = villages_of(deps, viewer)
        chosen = _village_filter(request, villages)
        hp = helpers_policy_for(deps, viewer)
        today = deps.clock().astimezone(SHANGHAI).date()
        period = _period(request.query_params.get("period"), shift_period(period_of(today), -1))
        with deps.db.read() as db:
            late = overdue_households(db, period, today, hp.followup_visit_months, chosen)
            measures = late_measures(db, deps.cipher, chosen, today, deps.calendar, hp)
        level = escalation_level(period, today, deps.calendar, hp)
        one = request.query_params.get("village") or None
        context = base(viewer, late=late, measures=measures, period=period, level=level,
                       villages=villages, village=one)  # fmt: skip
        return page(request, "helpers/overdue.html", viewer.locale, context)

    @router.get("/visits.xlsx")
    def visit_log(request: Request, viewer: Current) -> Response:
        if not viewer.scope.can_act:
            raise HTTPException(status_code=403, detail="operators cannot export")
        villages = villages_of(deps, viewer)
        chosen = _village_filter(request, villages)
        since = _period(request.query_params.get("since"), "") or None
        until = _period(request.query_params.get("until"), "") or None
        now = deps.clock()
        with deps.db.write() as db:
            rows = visit_log_rows(db, deps.cipher, deps.policies, chosen, since=since, until=until)
            assert viewer.user.id is not None
            audit.record(db, actor=audit.user_actor(viewer.user.id), action="export.downloaded",
                         subject_kind="user", subject_id=viewer.user.id, at=now,
                         data={"export": "visits", "village": request.query_params.get("village"),
                               "rows": len(rows), "format": "xlsx"})  # fmt: skip
        one = request.query_params.get("village")
        unit = villages[one] if one else _unit(deps, viewer)
        body = visit_log_xlsx(rows, unit, now)
        disposition = (
            f'attachment; filename="visits-{now:%Y%m%d}.xlsx"; '
            f"filename*=UTF-8''{quote('走访记录')}.xlsx"
        )
        headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
        return Response(body, media_type=XLSX, headers=headers)

    @router.get("/households/{household_id}", response_class=HTMLResponse)
    def household(request: Request, household_id: int, viewer: Current) -> Response:
        with deps.db.read() as db:
            context = base(viewer, **_household(db, deps, viewer, household_id))
        return page(request, "helpers/household.html", viewer.locale, context)

    @router.get("/households/{household_id}/visits/{visit_id}/files/{attachment_id}")
    async def visit_file_opened(
        household_id: int, visit_id: int, attachment_id: int, viewer: Current
    ) -> Response:
        if not viewer.scope.can_act:  # like an item's files: a photo may show an ID card
            raise HTTPException(status_code=404)
        row = await run_in_threadpool(
            _visit_file, deps, viewer, household_id, visit_id, attachment_id
        )
        return await served(row, deps.attachment_openers[row.channel], deps.cipher)

    @router.post("/households/{household_id}/visits/{visit_id}/files/{attachment_id}/listened")
    async def visit_voice_listened(
        request: Request, household_id: int, visit_id: int, attachment_id: int, viewer: Current
    ) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        if not viewer.scope.can_act:
            raise HTTPException(status_code=404)
        await run_in_threadpool(_listened, deps, viewer, household_id, visit_id, attachment_id)
        return RedirectResponse(f"/cadre/helpers/households/{household_id}#visits", status_code=303)

    @router.get("/{helper_id}", response_class=HTMLResponse)
    def helper_page(request: Request, helper_id: int, viewer: Current) -> Response:
        with deps.db.read() as db:
            context = base(viewer, **_helper(db, deps, viewer, helper_id))
        return page(request, "helpers/helper.html", viewer.locale, context)

    @router.post("/{helper_id}/link-code", response_class=HTMLResponse)
    async def link_code(request: Request, helper_id: int, viewer: Current) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        if not can_invite(viewer):
            raise HTTPException(status_code=403, detail="the township makes link codes")
        context = await run_in_threadpool(_new_code, deps, viewer, helper_id)
        return page(request, "helpers/helper.html", viewer.locale, base(viewer, **context))

    return router


def _unit(deps: WebDeps, viewer: Viewer) -> str:
    scope = viewer.scope
    if scope.village_code:
        return deps.village_name(scope.village_code)
    if scope.township_code:
        return deps.township_name(scope.township_code)
    policy = deps.policies.get(scope.region_code or "")
    return policy.region.name if policy else "全部"


def _helper(db: Session, deps: WebDeps, viewer: Viewer, helper_id: int) -> dict[str, Any]:
    helper = scoped_helper(db, deps, viewer, helper_id)
    villages = villages_of(deps, viewer)
    hp = helpers_policy_for(deps, viewer)
    rows = helper_rows(db, villages=set(villages), townships=set(), now=deps.clock(),
                       followup_months=hp.followup_visit_months)  # fmt: skip
    row = next((r for r in rows if r.helper.id == helper.id), None)
    ids = row.household_ids if row else []
    today = deps.clock().astimezone(SHANGHAI).date()
    period = period_of(today)
    states = household_states(db, ids, period, today, hp.followup_visit_months)
    households = [db.get(Household, i) for i in ids]
    try:
        phone = deps.cipher.unseal(helper.phone_cipher)
    except FieldCipherError:
        phone = "?"
    return {
        "helper": helper,
        "row": row,
        "households": [(h, states[int(h.id or 0)]) for h in households if h is not None],
        "phone": phone,
        "can_invite": can_invite(viewer) and helper.state == HelperState.ACTIVE,
        "villages": villages,
        "period": period,
        "code": None,
    }


def _new_code(deps: WebDeps, viewer: Viewer, helper_id: int) -> dict[str, Any]:
    """Make a link code (the only time it is shown) and the helper page around it."""
    now = deps.clock()
    assert viewer.user.id is not None
    with deps.db.write() as db:
        helper = scoped_helper(db, deps, viewer, helper_id)
        if helper.state != HelperState.ACTIVE:
            raise HTTPException(status_code=404, detail="the helper has left")
        code = new_link_code(db, deps.cipher, helper_id=helper_id,
                             actor=audit.user_actor(viewer.user.id), now=now)  # fmt: skip
    with deps.db.read() as db:
        context = _helper(db, deps, viewer, helper_id)
    payload = deep_link_payload(code)
    context["code"] = {
        "code": code,
        "deep_link": f"https://t.me/{deps.bot_username}?start={payload}"
        if deps.bot_username
        else None,
        "start": f"/start {payload}",
        "expires": now + LINK_LIFETIME,
    }
    return context


def _scoped_file(
    db: Session,
    deps: WebDeps,
    viewer: Viewer,
    household_id: int,
    visit_id: int,
    attachment_id: int,
) -> Attachment:
    """A file of one of the household's visits, in the viewer's scope; 404 otherwise."""
    scoped_household(db, deps, viewer, household_id)
    row = visit_file(db, household_id=household_id, visit_id=visit_id,
                     attachment_id=attachment_id)  # fmt: skip
    if row is None:
        raise HTTPException(status_code=404, detail="no such file")
    return row


def _on_history(
    db: Session, deps: WebDeps, viewer: Viewer, household_id: int, action: str,
    data: dict[str, Any],
) -> None:  # fmt: skip
    """What this user did with the household's visit files, in its history."""
    assert viewer.user.id is not None
    audit.record(db, actor=audit.user_actor(viewer.user.id), action=action,
                 subject_kind="household", subject_id=household_id, at=deps.clock(),
                 data=data)  # fmt: skip


def _visit_file(
    deps: WebDeps, viewer: Viewer, household_id: int, visit_id: int, attachment_id: int
) -> Attachment:
    """A file of one of the household's visits, its opening in the household's history."""
    with deps.db.write() as db:
        row = _scoped_file(db, deps, viewer, household_id, visit_id, attachment_id)
        if row.channel not in deps.attachment_openers:
            raise HTTPException(status_code=404, detail="no such file")
        _on_history(db, deps, viewer, household_id, "helper.visit_file_opened",
                    {"visit": visit_id, "attachment": attachment_id, "kind": row.kind})  # fmt: skip
    return row


def _listened(
    deps: WebDeps, viewer: Viewer, household_id: int, visit_id: int, attachment_id: int
) -> None:
    """A cadre listened to a visit's voice note: the 待听取 mark goes, the history says who."""
    with deps.db.write() as db:
        row = _scoped_file(db, deps, viewer, household_id, visit_id, attachment_id)
        if not row.needs_listening:
            return  # a second click (or a second cadre) changes nothing
        row.needs_listening = False
        db.add(row)
        _on_history(db, deps, viewer, household_id, "helper.visit_voice_listened",
                    {"visit": visit_id, "attachment": attachment_id})  # fmt: skip


def _household(db: Session, deps: WebDeps, viewer: Viewer, household_id: int) -> dict[str, Any]:
    household = scoped_household(db, deps, viewer, household_id)
    assignment = current_assignment(db, household_id)
    helper = db.get(Helper, assignment.helper_id) if assignment else None
    query = select(Visit).where(Visit.household_id == household_id)
    visits = list(db.exec(query.order_by(col(Visit.visited_on).desc(), col(Visit.id).desc())))
    problems = {}
    for visit in visits:
        try:
            problems[visit.id] = deps.cipher.unseal(visit.problems_cipher) or ""
        except FieldCipherError:
            problems[visit.id] = "?"
    enrolment = db.exec(
        select(Enrollment)
        .where(Enrollment.household_id == household_id)
        .order_by(col(Enrollment.enrolled_at).desc())
    ).first()
    measures = ("", "")
    if enrolment is not None:
        try:
            measures = enrolment_text(enrolment, deps.cipher)
        except FieldCipherError:
            measures = ("?", "?")
    reviews = list(
        db.exec(
            select(HelpReview, QueueItem)
            .join(QueueItem, col(QueueItem.id) == HelpReview.queue_item_id)
            .where(HelpReview.household_id == household_id)
            .order_by(col(HelpReview.opened_at))
        )
    )
    files = {
        visit_id: [attachment_view(deps, row) for row in rows]
        for visit_id, rows in files_of(db, [int(v.id or 0) for v in visits]).items()
    }
    return {
        "household": household,
        "helper": helper,
        "visits": visits,
        "files": files,
        "problems": problems,
        "enrolment": enrolment,
        "measures": measures,
        "reviews": reviews,
        "outcome_names": OUTCOME_LABELS,
        "modes": MODES,
        "reasons": REASONS,
        "check_names": CHECK_NAMES,
        "category_names": CATEGORY_NAMES,
        "income_names": INCOME_NAMES,
        "village_name": deps.village_name(household.village_code),
    }
