"""The helper's chat: linking it by a one-time code, and logging visits.

These effects are awaited (:class:`bot.flow.Await`): each looks something up, then puts
the person at their next step and asks it (:func:`_ask`), or explains and goes back
(:func:`_leave`). Every visit effect first finds the helper by the verified chat and the
household among *their* current households: no typed id or forged button reaches anyone
else's.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from bot.asking import render_step
from bot.dialogs import DIALOGS, helper_link, menu, visit
from bot.effects import EffectCall, handles
from bot.flow import Answers, Context, Reply, Text
from bot.state import MENU
from intake import audit
from intake.helpers.findings import Finding, file_finding, sharp_drop
from intake.helpers.links import LinkOutcome, check_chat_link, linked_helper, redeem_chat_link
from intake.helpers.measures import ledger_entries, ledger_of
from intake.helpers.models import Helper, NotVisitedReason, VisitMode
from intake.helpers.visit_files import attach_sent_files
from intake.helpers.visits import (
    CHECKS,
    INCOME_SOURCES,
    VisitError,
    households_page,
    income_total,
    last_income_total,
    own_household,
    period_of,
    record_visit,
)
from intake.reports.models import ReportAttachment
from intake.workdays import SHANGHAI

_REFUSALS = {
    LinkOutcome.UNKNOWN: "helpers.link.unknown",
    LinkOutcome.EXPIRED: "helpers.link.expired",
    LinkOutcome.USED: "helpers.link.used",
    LinkOutcome.THROTTLED: "helpers.link.throttled",
}


def _context(call: EffectCall, *, helper: bool) -> Context:
    return Context(now=call.now, language=call.state.language, helper=helper)


def _ask(
    call: EffectCall, dialog: str, step: str, answers: Answers, *, history: tuple[str, ...] = ()
) -> Reply:
    """Put the person at ``dialog``'s ``step`` with ``answers`` and ask it."""
    state = call.state
    state.dialog, state.step, state.answers = dialog, step, answers
    state.history, state.editing, state.invalid, state.pending = list(history), False, 0, None
    context = _context(call, helper=_helper(call) is not None)
    return render_step(DIALOGS[dialog].step(step), answers, context, in_menu=dialog == MENU)


def _leave(call: EffectCall, *, helper: bool) -> Reply:
    """Back where the person came from: a dialog left waiting, or the menu."""
    state = call.state
    if state.stack and str(state.stack[-1].get("dialog")) in DIALOGS:
        frame = state.stack.pop()
        return _ask(call, str(frame["dialog"]), str(frame["step"]), dict(frame["answers"]),
                    history=tuple(frame["history"]))  # fmt: skip
    state.stack.clear()
    state.dialog, state.step, state.answers, state.history = MENU, "choose", {}, []
    state.editing, state.invalid, state.pending = False, 0, None
    step = menu.DIALOG.step("choose")
    return render_step(step, {}, _context(call, helper=helper), in_menu=True)


def _helper(call: EffectCall) -> Helper | None:
    return linked_helper(call.db, call.contact.channel, call.contact.external_id)


# --- linking ------------------------------------------------------------------------------


@handles("helper_link_checked")
def helper_link_checked(call: EffectCall) -> list[Reply]:
    """A code typed or opened by deep link: ask "是<name>吗?" or say why not."""
    code = str(call.data.get("code") or "")
    outcome, target = check_chat_link(
        call.db, call.effects.cipher, code, channel=call.contact.channel,
        external_id=call.contact.external_id, now=call.now,
    )  # fmt: skip
    if outcome is LinkOutcome.OK and target is not None:
        answers = {"code": code, "name": target.name}
        return [_ask(call, helper_link.DIALOG_ID, "confirm", answers)]
    refusal = Reply((Text(_REFUSALS[outcome]),))
    return [refusal, _leave(call, helper=_helper(call) is not None)]


@handles("helper_link_redeemed")
def helper_link_redeemed(call: EffectCall) -> list[Reply]:
    """The helper said the name is theirs: use the code, link the chat."""
    target = redeem_chat_link(
        call.db, call.effects.cipher, str(call.data.get("code") or ""),
        channel=call.contact.channel, external_id=call.contact.external_id, now=call.now,
    )  # fmt: skip
    if target is None:  # used or expired between the two messages
        return [Reply((Text("helpers.link.expired"),)), _leave(call, helper=False)]
    said = "helpers.link.done" if target.kind == "helper" else "helpers.link.done_cadre"
    done = Reply((Text(said, {"name": target.name}),))
    return [done, _leave(call, helper=_helper(call) is not None)]


# --- the visit log ------------------------------------------------------------------------


def _not_a_helper(call: EffectCall) -> list[Reply]:
    return [Reply((Text("visit.not_a_helper"),)), _leave(call, helper=False)]


@handles("visit_listed")
def visit_listed(call: EffectCall) -> list[Reply]:
    """A page of the helper's own households to pick from (by name, searchable)."""
    helper = _helper(call)
    if helper is None or helper.id is None:
        return _not_a_helper(call)
    page = max(int(call.data.get("page") or 0), 0)
    query = str(call.data.get("query") or "").strip() or None
    rows, more = households_page(call.db, helper.id, page=page, size=visit.PAGE, query=query)
    if not rows and page == 0:
        key = "visit.none_found" if query else "visit.no_households"
        replies = [Reply((Text(key, {"query": query or ""}),))]
        if query:  # the whole list again
            rows, more = households_page(call.db, helper.id, page=0, size=visit.PAGE)
            query = None
        if not rows:
            return [*replies, _leave(call, helper=True)]
    else:
        replies = []
    answers = {"households": [list(r) for r in rows], "page": page, "more": more, "query": query}
    return [*replies, _ask(call, visit.DIALOG_ID, "visit", answers)]


@handles("visit_opened")
def visit_opened(call: EffectCall) -> list[Reply]:
    """One household picked (or a reminder's button pressed): theirs, or a polite no."""
    helper = _helper(call)
    if helper is None or helper.id is None:
        return _not_a_helper(call)
    raw = str(call.data.get("household") or "")
    household = own_household(call.db, helper.id, int(raw)) if raw.isdigit() else None
    if household is None or household.id is None:
        refusal = Reply((Text("visit.not_yours"),))
        return [refusal, *visit_listed(_with(call, {"page": 0}))]
    answers: dict[str, Any] = {
        "household": household.id, "name": household.head_name,
        "ledger": ledger_of(call.db, call.effects.cipher, household.id),
        "opened_at": call.now.isoformat(),
    }  # fmt: skip
    return [_ask(call, visit.DIALOG_ID, "mode", answers)]


def _with(call: EffectCall, data: dict[str, Any]) -> EffectCall:
    return EffectCall(call.effects, call.db, data, call.contact, call.state, call.now)


def _visit_fields(data: dict[str, Any], today: date) -> dict[str, Any]:
    """record_visit's arguments from the dialog's answers."""
    if data.get("mode") == visit.NOT_VISITED:
        return {"mode": VisitMode.NOT_VISITED, "visited_on": today,
                "reason": NotVisitedReason(str(data.get("reason") or "other"))}  # fmt: skip
    income: dict[str, Any] = (
        {"about_the_same": True}
        if data.get("income_same") is not False
        else {s: data.get(s) or 0 for s in INCOME_SOURCES}
    )
    checks = {c: True for c in CHECKS}
    if data.get("checks_ok") is False:
        checks = {c: data.get(f"check_{c}") is not False for c in CHECKS}
    visited = date.fromisoformat(str(data.get("visited_on") or today.isoformat()))
    return {
        "mode": VisitMode(str(data.get("mode"))), "visited_on": min(visited, today),
        "income": income, "checks": checks, "problems": data.get("problems"),
        "measures": ledger_entries(data.get("ledger")),
    }  # fmt: skip


@handles("visit_logged")
def visit_logged(call: EffectCall) -> list[Reply]:
    """Keep the visit (only for the helper's own household) and file any risk found."""
    helper = _helper(call)
    if helper is None or helper.id is None:
        return [Reply((Text("visit.not_a_helper"),))]
    raw = str(call.data.get("household") or "")
    household = own_household(call.db, helper.id, int(raw)) if raw.isdigit() else None
    if household is None or household.id is None:
        return [Reply((Text("visit.not_yours"),))]
    today = call.now.astimezone(SHANGHAI).date()
    fields = _visit_fields(call.data, today)
    period = period_of(today)
    try:
        record = record_visit(
            call.db, call.effects.cipher, household_id=household.id, helper_id=helper.id,
            period=period, actor=f"helper:{helper.id}", now=call.now, **fields,
        )  # fmt: skip
    except VisitError:
        return [Reply((Text("visit.invalid"),))]
    call.db.flush()
    audit.record(
        call.db, actor=f"helper:{helper.id}", action="helper.visit_recorded",
        subject_kind="household", subject_id=household.id, at=call.now,
        data={"visit": record.id, "period": period, "mode": record.mode},
    )  # fmt: skip
    files = attach_sent_files(call.db, visit=record, contact_id=call.contact.id,
                              since=_opened_at(call), now=call.now)  # fmt: skip
    saved = "visit.saved_not_visited" if record.mode == VisitMode.NOT_VISITED else "visit.saved"
    replies = [Reply((Text(saved, {"name": household.head_name}),))]
    if files:
        replies.append(Reply((Text("visit.files_kept", {"count": len(files)}),)))
    findings = _findings(call, household.id, period, fields)
    if findings:
        effects = call.effects
        policy = effects.policy_for(household.village_code)
        report = file_finding(
            call.db, effects.cipher, visit=record, household=household, helper=helper,
            findings=findings, problems=fields.get("problems"), policy=policy,
            calendar=effects.calendar, new_code=effects.new_code, now=call.now,
        )  # fmt: skip
        for file in files:  # the photos go to the village with the risk
            call.db.add(
                ReportAttachment(report_id=int(report.id or 0), attachment_id=int(file.id or 0))
            )
        replies.append(Reply((Text("visit.risk_filed", {"code": report.tracking_code}),)))
    return replies


#: Files sent this long before a visit whose opening time is unknown (a session from before
#: the time was kept) still count as the visit's.
_UNKNOWN_OPENING = timedelta(hours=1)


def _opened_at(call: EffectCall) -> datetime:
    """When the household was opened in this dialog: files sent since are the visit's."""
    try:
        opened = datetime.fromisoformat(str(call.data.get("opened_at")))
    except ValueError:
        return call.now - _UNKNOWN_OPENING
    return min(opened, call.now) if opened.tzinfo is not None else call.now - _UNKNOWN_OPENING


def _findings(
    call: EffectCall, household_id: int, period: str, fields: dict[str, Any]
) -> list[Finding]:
    found: list[Finding] = []
    if fields["mode"] is VisitMode.NOT_VISITED:
        return found
    before = last_income_total(call.db, household_id, period)
    if sharp_drop(before, income_total(fields["income"])):
        found.append(Finding.INCOME_DROP)
    risk = call.data.get("risk")
    if risk in ("illness", "disaster", "other"):
        found.append(Finding(str(risk)))
    return found
