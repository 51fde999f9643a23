"""Message ids of the report pages' names (kinds, states, levels, reasons, actions, events),
spelled out so every id in ``cadre.po`` appears in the code and a new value without a
name is caught by ``tests/test_web_reports.py``."""

from __future__ import annotations

from typing import Final

KIND: Final = {
    "tip": "cadre.report.kind.tip",
    "report": "cadre.report.kind.report",
    "complaint": "cadre.report.kind.complaint",
    "inquiry": "cadre.report.kind.inquiry",
    "suggestion": "cadre.report.kind.suggestion",
}
STATE: Final = {
    "received": "cadre.report.state.received",
    "accepted": "cadre.report.state.accepted",
    "investigating": "cadre.report.state.investigating",
    "answered": "cadre.report.state.answered",
    "closed": "cadre.report.state.closed",
    "referred": "cadre.report.state.referred",
    "unfounded": "cadre.report.state.unfounded",
    "merged": "cadre.report.state.merged",
}
SUBJECT: Final = {
    "household": "cadre.report.subject.household",
    "cadre": "cadre.report.subject.cadre",
    "committee": "cadre.report.subject.committee",
    "township": "cadre.report.subject.township",
    "general": "cadre.report.subject.general",
}
LEVEL: Final = {
    "village": "cadre.report.level.village",
    "township": "cadre.report.level.township",
    "county": "cadre.report.level.county",
}
SOURCE: Final = {
    "chat": "cadre.report.source.chat",
    "hotline": "cadre.report.source.hotline",
    "mailbox": "cadre.report.source.mailbox",
}
#: Why a report sits at its level (``Report.route_reason``).
ROUTE: Final = {
    "concerns_village": "cadre.report.route.concerns_village",
    "concerns_township": "cadre.report.route.concerns_township",
    "village_not_told": "cadre.report.route.village_not_told",
    "objection": "cadre.report.route.objection",
    "rule_household": "cadre.report.route.rule_household",
    "rule_general": "cadre.report.route.rule_general",
    "rule_cadre": "cadre.report.route.concerns_village",
    "rule_committee": "cadre.report.route.concerns_village",
    "rule_township": "cadre.report.route.concerns_township",
}
ACTION: Final = {
    "accept": "cadre.report.action.accept",
    "investigate": "cadre.report.action.investigate",
    "answer": "cadre.report.action.answer",
    "close": "cadre.report.action.close",
    "refer": "cadre.report.action.refer",
    "mark_unfounded": "cadre.report.action.mark_unfounded",
    "merge": "cadre.report.action.merge",
    "link_application": "cadre.report.action.link_application",
}
HINT: Final = {
    "accept": "cadre.report.hint.accept",
    "investigate": "cadre.report.hint.investigate",
    "answer": "cadre.report.hint.answer",
    "close": "cadre.report.hint.close",
    "refer": "cadre.report.hint.refer",
    "mark_unfounded": "cadre.report.hint.mark_unfounded",
    "merge": "cadre.report.hint.merge",
    "link_application": "cadre.report.hint.link_application",
}
EVENT: Final = {
    "report.filed": "cadre.report.event.filed",
    "report.letter_entered": "cadre.report.event.letter_entered",
    "report.accept": "cadre.report.event.accept",
    "report.investigate": "cadre.report.event.investigate",
    "report.answer": "cadre.report.event.answer",
    "report.close": "cadre.report.event.close",
    "report.refer": "cadre.report.event.refer",
    "report.mark_unfounded": "cadre.report.event.mark_unfounded",
    "report.merge": "cadre.report.event.merge",
    "report.link_application": "cadre.report.event.link_application",
    "report.merged_from": "cadre.report.event.merged_from",
    "report.remerged": "cadre.report.event.remerged",
    "report.objected": "cadre.report.event.objected",
    "report.phone_revealed": "cadre.report.event.phone_revealed",
    "report.id_revealed": "cadre.report.event.id_revealed",
    "report.attachment_opened": "cadre.report.event.attachment_opened",
}
DUE: Final = {
    "first_response": "cadre.report.due.first_response",
    "answer": "cadre.report.due.answer",
}
#: Facts shown under a history entry.
FACT: Final = {
    "answer": "cadre.report.answer",
    "referred_to": "cadre.report.referred_to",
    "into": "cadre.fact.merge_into",
    "item_code": "cadre.report.item_code",
    "to_level": "cadre.report.level",
    "letter_date": "cadre.report.letter_date",
}
FAMILIES: Final = {
    "fact": FACT,
    "kind": KIND,
    "state": STATE,
    "subject": SUBJECT,
    "level": LEVEL,
    "source": SOURCE,
    "route": ROUTE,
    "action": ACTION,
    "hint": HINT,
    "event": EVENT,
    "due": DUE,
}
