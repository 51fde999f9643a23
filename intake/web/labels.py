"""Message ids of the cadre pages' names for statuses, actions, roles…, spelled out.

Templates look names up here (``labels.status[item.status]``) instead of gluing ids
together, so every id in ``cadre.po`` appears in the code, and a new status or action
without a name fails ``tests/test_web_labels.py`` instead of showing a raw key.
"""

from __future__ import annotations

from typing import Final

STATUS: Final = {
    "submitted": "cadre.status.submitted",
    "village_review": "cadre.status.village_review",
    "township_review": "cadre.status.township_review",
    "public_notice": "cadre.status.public_notice",
    "county_confirm": "cadre.status.county_confirm",
    "enrolled": "cadre.status.enrolled",
    "not_enrolled": "cadre.status.not_enrolled",
    "withdrawn": "cadre.status.withdrawn",
    "merged": "cadre.status.merged",
    "open": "cadre.status.open",
    "done": "cadre.status.done",
}
KIND: Final = {
    "application": "cadre.kind.application",
    "callback": "cadre.kind.callback",
    "review": "cadre.kind.review",
    "exit": "cadre.kind.exit",
}
ACTION: Final = {
    "start_village_review": "cadre.action.start_village_review",
    "village_report": "cadre.action.village_report",
    "return_to_village": "cadre.action.return_to_village",
    "start_notice": "cadre.action.start_notice",
    "record_objection": "cadre.action.record_objection",
    "end_notice": "cadre.action.end_notice",
    "enrol": "cadre.action.enrol",
    "decline": "cadre.action.decline",
    "withdraw": "cadre.action.withdraw",
    "merge": "cadre.action.merge",
    "close_callback": "cadre.action.close_callback",
    "propose_outcome": "cadre.action.propose_outcome",
    "check_outcome": "cadre.action.check_outcome",
    "confirm_outcome": "cadre.action.confirm_outcome",
}
HINT: Final = {
    "start_village_review": "cadre.hint.start_village_review",
    "village_report": "cadre.hint.village_report",
    "return_to_village": "cadre.hint.return_to_village",
    "start_notice": "cadre.hint.start_notice",
    "record_objection": "cadre.hint.record_objection",
    "end_notice": "cadre.hint.end_notice",
    "enrol": "cadre.hint.enrol",
    "decline": "cadre.hint.decline",
    "withdraw": "cadre.hint.withdraw",
    "merge": "cadre.hint.merge",
    "close_callback": "cadre.hint.close_callback",
    "propose_outcome": "cadre.hint.propose_outcome",
    "check_outcome": "cadre.hint.check_outcome",
    "confirm_outcome": "cadre.hint.confirm_outcome",
}
#: Audit actions shown in the timeline; others are shown as they are recorded.
EVENT: Final = {
    "application.submitted": "cadre.event.application.submitted",
    "callback.requested": "cadre.event.callback.requested",
    "item.id_revealed": "cadre.event.item.id_revealed",
    "item.phone_revealed": "cadre.event.item.phone_revealed",
    "item.attachment_opened": "cadre.event.item.attachment_opened",
    "item.voice_listened": "cadre.event.item.voice_listened",
    "item.report_linked": "cadre.event.item.report_linked",
    "household.details_accepted": "cadre.event.household.details_accepted",
    "procedure.start_village_review": "cadre.event.procedure.start_village_review",
    "procedure.village_report": "cadre.event.procedure.village_report",
    "procedure.return_to_village": "cadre.event.procedure.return_to_village",
    "procedure.start_notice": "cadre.event.procedure.start_notice",
    "procedure.record_objection": "cadre.event.procedure.record_objection",
    "procedure.end_notice": "cadre.event.procedure.end_notice",
    "procedure.enrol": "cadre.event.procedure.enrol",
    "procedure.decline": "cadre.event.procedure.decline",
    "procedure.withdraw": "cadre.event.procedure.withdraw",
    "procedure.merge": "cadre.event.procedure.merge",
    "procedure.close_callback": "cadre.event.procedure.close_callback",
    "procedure.propose_outcome": "cadre.event.procedure.propose_outcome",
    "procedure.check_outcome": "cadre.event.procedure.check_outcome",
    "procedure.confirm_outcome": "cadre.event.procedure.confirm_outcome",
}
FACT: Final = {
    "home_visit": "cadre.fact.home_visit",
    "consent_confirmed": "cadre.fact.consent_confirmed",
    "applicant_asked": "cadre.fact.applicant_asked",
    "meeting_result": "cadre.fact.meeting_result",
    "risk_codes": "cadre.fact.risk_codes",
    "reason_detail": "cadre.fact.reason_detail",
    "helper": "cadre.fact.helper",
    "measures": "cadre.fact.measures",
    "measures_due": "cadre.fact.measures_due",
    "merge_into": "cadre.fact.merge_into",
    "merge_code": "cadre.fact.merge_code",
    "report": "cadre.fact.report_code",
    "due_at": "cadre.fact.due_at",
    "reason": "cadre.fact.reason",
    "outcome": "cadre.fact.outcome",
    "helper_name": "cadre.fact.helper_name",
    "helper_phone": "cadre.fact.helper_phone",
}
ANSWER: Final = {
    "household_size": "cadre.answer.household_size",
    "annual_income_yuan": "cadre.answer.annual_income_yuan",
    "previous_year_income_yuan": "cadre.answer.previous_year_income_yuan",
    "medical_out_of_pocket_yuan": "cadre.answer.medical_out_of_pocket_yuan",
    "disaster_loss_ratio": "cadre.answer.disaster_loss_ratio",
    "disaster_loss_yuan": "cadre.answer.disaster_loss_yuan",
    "main_labourer_incapacitated": "cadre.answer.main_labourer_incapacitated",
    "only_house_destroyed": "cadre.answer.only_house_destroyed",
    "can_rebuild": "cadre.answer.can_rebuild",
    "education_expense_yuan": "cadre.answer.education_expense_yuan",
    "unemployed_months": "cadre.answer.unemployed_months",
    "business_failed": "cadre.answer.business_failed",
    "debts_yuan": "cadre.answer.debts_yuan",
    "has_illness": "cadre.answer.has_illness",
    "has_disaster": "cadre.answer.has_disaster",
    "has_student": "cadre.answer.has_student",
    "unemployed": "cadre.answer.unemployed",
}
ROLE: Final = {
    "village": "cadre.role.village",
    "township": "cadre.role.township",
    "county": "cadre.role.county",
    "operator": "cadre.role.operator",
    "admin": "cadre.role.admin",
}
RECOMMENDATION: Final = {
    "likely": "cadre.recommendation.likely",
    "review": "cadre.recommendation.review",
    "cadre_decides": "cadre.recommendation.cadre_decides",
}
ERROR: Final = {
    "unknown_action": "cadre.error.unknown_action",
    "out_of_scope": "cadre.error.out_of_scope",
    "illegal": "cadre.error.illegal",
    "forbidden": "cadre.error.forbidden",
    "reason_required": "cadre.error.reason_required",
    "missing_fact": "cadre.error.missing_fact",
    "bad_date": "cadre.error.bad_date",
    "bad_merge": "cadre.error.bad_merge",
    "merge_closed": "cadre.error.merge_closed",
    "notice_running": "cadre.error.notice_running",
    "bad_helper": "cadre.error.bad_helper",
}
ATTACHMENT: Final = {
    "photo": "cadre.attachment.photo",
    "document": "cadre.attachment.document",
    "voice": "cadre.attachment.voice",
}
LOGIN: Final = {"invalid": "cadre.login.invalid"}

FAMILIES: Final = {
    "status": STATUS,
    "kind": KIND,
    "action": ACTION,
    "hint": HINT,
    "event": EVENT,
    "fact": FACT,
    "answer": ANSWER,
    "role": ROLE,
    "recommendation": RECOMMENDATION,
    "error": ERROR,
    "login": LOGIN,
    "attachment": ATTACHMENT,
}
