"""A linked helper and their households, for the visit-log and link-dialog tests.

``helper_with_households`` puts, in 柏岭村 (gangkou): the helper 李帮扶 linked to a chat,
ten households of theirs (王一 … 王十), one with an enrolment's measures and deadline and
last month's income by source, and one household of another helper (赵他人) that theirs
must never reach.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.services import Services
from intake.helpers.assignments import assign_helper, create_helper
from intake.helpers.models import Helper, Visit, VisitMode
from intake.helpers.visits import period_of, record_visit, shift_period
from intake.households import Household
from intake.procedure import Enrollment
from intake.queue import ItemKind, ItemStatus, QueueItem
from intake.workdays import SHANGHAI

VILLAGE = "gangkou-bailing"
NAMES = ("王一", "王二", "王三", "王四", "王五", "王六", "王七", "王八", "王九", "王十")


def _household(session: Session, name: str, key: str) -> Household:
    household = Household(id_hash=key, id_cipher="x", head_name=name, village_code=VILLAGE)
    session.add(household)
    session.flush()
    return household


def helper_with_households(
    services: Services, *, channel: str = "webhook", chat: str | None = "helper-visit"
) -> dict[str, int]:
    """The world above; returns ids by name (``helper``, ``other_helper``, head names)."""
    now = services.clock()
    cipher = services.cipher
    ids: dict[str, int] = {}
    with services.db.write() as session:
        helper = create_helper(session, cipher, name="李帮扶", phone="13900000001",
                               region_code="gangkou", township_code="gangkou",
                               village_code=VILLAGE, actor="t", now=now)  # fmt: skip
        other = create_helper(session, cipher, name="周别人", phone="13900000002",
                              region_code="gangkou", township_code="gangkou",
                              village_code=VILLAGE, actor="t", now=now)  # fmt: skip
        if chat is not None:
            helper.chat_channel, helper.chat_external_id = channel, chat
        ids["helper"], ids["other_helper"] = int(helper.id or 0), int(other.id or 0)
        for n, name in enumerate(NAMES):
            household = _household(session, name, f"visit-{n}")
            ids[name] = int(household.id or 0)
            assign_helper(session, cipher, household_id=ids[name], helper_id=ids["helper"],
                          actor="t", reason="r", now=now)  # fmt: skip
        theirs = _household(session, "赵他人", "visit-other")
        ids["赵他人"] = int(theirs.id or 0)
        assign_helper(session, cipher, household_id=ids["赵他人"], helper_id=ids["other_helper"],
                      actor="t", reason="r", now=now)  # fmt: skip
        _enrol(session, services, ids["王一"], now)
        last_month = shift_period(period_of(now.astimezone(SHANGHAI).date()), -1)
        record_visit(session, cipher, household_id=ids["王一"], helper_id=ids["helper"],
                     period=last_month, visited_on=date.fromisoformat(last_month + "-15"),
                     mode=VisitMode.IN_PERSON, income={"wages": 3000, "transfers": 500},
                     actor="t", now=now - timedelta(days=30))  # fmt: skip
    return ids


def _enrol(session: Session, services: Services, household_id: int, now: datetime) -> None:
    item = QueueItem(kind=ItemKind.APPLICATION, status=ItemStatus.ENROLLED,
                     tracking_code="ENRL-0001", region_code="gangkou", township_code="gangkou",
                     village_code=VILLAGE, created_at=now, updated_at=now)  # fmt: skip
    session.add(item)
    session.flush()
    session.add(
        Enrollment(
            queue_item_id=int(item.id or 0),
            household_id=household_id,
            risk_codes="01",
            helper_name="李帮扶",
            measures_cipher=services.cipher.seal("产业奖补2000元"),
            measures_due=date(2027, 6, 30),
            enrolled_by="t",
            enrolled_at=now,
        )
    )


def visits(services: Services) -> list[dict[str, Any]]:
    """The visit records as a transcript lists them (problems decrypted)."""
    with services.db.read() as session:
        rows = session.exec(select(Visit).order_by(col(Visit.id))).all()
        names = {h.id: h.head_name for h in session.exec(select(Household))}
        helpers = {h.id: h.name for h in session.exec(select(Helper))}
    return [
        {
            "household": names.get(v.household_id),
            "helper": helpers.get(v.helper_id),
            "period": v.period,
            "visited_on": v.visited_on.isoformat(),
            "mode": v.mode,
            "reason": v.not_visited_reason,
            "income": v.income,
            "checks": v.checks,
            "problems": services.cipher.unseal(v.problems_cipher),
            "measures": v.measures,
        }
        for v in rows
    ]


SETUPS = {"helper_with_households": helper_with_households}
