"""Golden transcripts: whole conversations through the real service and database.

Each ``tests/transcripts/<dialog>.<case>.yaml`` lists what the villager does (``start``,
``type``, ``press`` a button by its label, ``wait`` some time) and, under each action,
the bot's replies; ``records`` lists what the conversation left in the database. A step
with ``as: <user>`` is sent by another chat (someone else looking a code up). Someone
who knows the policy but not Python can read and review them. Regenerate them all with::

    .venv/bin/pytest tests/test_dialogs.py --update-transcripts
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FakeClock
from sqlmodel import select
from visit_support import SETUPS, visits

from bot.conversation import Incoming
from bot.engine import Input
from bot.inbound import InboundMessage
from bot.services import Services
from intake.applications import Application
from intake.audit import AuditEvent
from intake.callbacks import CallbackRequest, note_of
from intake.households import Household
from intake.queue import QueueItem
from intake.reports.anonymity import SCRUBBED_SENDER
from intake.reports.models import Report

TRANSCRIPTS = Path(__file__).parent / "transcripts"
CASES = sorted(TRANSCRIPTS.glob("*.yaml"))
ACTIONS = ("start", "type", "press", "wait")


class _Literal(str):
    """A string dumped in YAML's block style, so multi-line replies stay readable."""


yaml.SafeDumper.add_representer(
    _Literal, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data, "|")
)


def _input(action: dict[str, Any], buttons: list[tuple[str, str]]) -> Input:
    if "start" in action:
        payload = action["start"]
        return Input(start=True, payload=payload if isinstance(payload, str) else None)
    if "type" in action:
        return Input(text=str(action["type"]))
    label = str(action["press"])
    for shown, data in buttons:
        if shown == label:
            return Input(data=data)
    raise AssertionError(f"no button {label!r} on screen; buttons were {[b for b, _ in buttons]}")


def _replay(services: Services, clock: FakeClock, case: dict[str, Any]) -> list[dict[str, Any]]:
    user, language = case.get("user", "villager"), case.get("language", "zh_CN")
    buttons: list[tuple[str, str]] = []
    steps: list[dict[str, Any]] = []
    for number, step in enumerate(case["steps"]):
        action = {k: v for k, v in step.items() if k in ACTIONS}
        if "wait" in action:
            clock.advance(**action["wait"])
            steps.append(action)
            continue
        clock.advance(seconds=20)
        sender = str(step.get("as") or user)
        if "as" in step:
            action = {"as": sender, **action}
        message = Incoming(
            "webhook", f"{sender}-{number}", sender, _input(action, buttons), language
        )
        outcome = services.conversations.receive(message)
        replies = []
        on_screen: list[tuple[str, str]] = []
        for reply in outcome.replies:
            shown: dict[str, Any] = {
                "text": _Literal(reply.text) if "\n" in reply.text else reply.text
            }
            if reply.buttons:
                shown["buttons"] = [label for label, _ in reply.buttons]
                # Every message's buttons stay pressable; a label in two, the last one's.
                on_screen = [*reply.buttons, *on_screen]
            replies.append(shown)
        buttons = on_screen or buttons
        steps.append({**action, "replies": replies})
    return steps


def _records(services: Services) -> dict[str, Any]:
    with services.db.read() as db:
        items = db.exec(select(QueueItem).order_by(QueueItem.id)).all()  # type: ignore[arg-type]
        applications = db.exec(select(Application).order_by(Application.id)).all()  # type: ignore[arg-type]
        audit = db.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
        households = len(db.exec(select(Household)).all())
        callbacks = db.exec(select(CallbackRequest)).all()
        reports = db.exec(select(Report).order_by(Report.id)).all()  # type: ignore[arg-type]
        scrubbed = db.exec(
            select(InboundMessage).where(InboundMessage.sender == SCRUBBED_SENDER)
        ).all()
    extra: dict[str, Any] = {}
    if reports:  # only where there are: the other transcripts stay as they were
        extra["reports"] = [_report(r, services) for r in reports]
        extra["scrubbed_messages"] = len(scrubbed)
    return {
        "queue_items": [
            {
                "kind": i.kind,
                "status": i.status,
                "tracking_code": i.tracking_code,
                "village": i.village_code,
                "fast_track": i.fast_track,
            }
            for i in items
        ],
        "applications": [
            {
                "status": a.status,
                "village": a.village_code,
                "head_name": a.head_name,
                "proxy": a.proxy,
                "consent_recorded": a.consent_at is not None,
                "criteria_met": a.assessment.get("criteria_met"),
                "negative_flags": a.assessment.get("negative_flags"),
                "recommendation": a.assessment.get("recommendation"),
            }
            for a in applications
        ],
        "households": households,
        "callbacks": [
            {"note": note_of(c, services.cipher), "context": c.context} for c in callbacks
        ],
        "audit": [e.action for e in audit],
        **extra,
    }


def _report(report: Report, services: Services) -> dict[str, Any]:
    """What a cadre would check of a filed report (names decrypted, phone masked)."""
    cipher = services.cipher
    phone = cipher.decrypt(report.phone_cipher) if report.phone_cipher else None
    return {
        "tracking_code": report.tracking_code,
        "kind": report.kind,
        "state": report.state,
        "village": report.village_code,
        "subject": report.subject_kind,
        "subject_name": cipher.unseal(report.subject_name_cipher),
        "text": cipher.decrypt(report.text_cipher),
        "anonymous": report.anonymous,
        "linked_to_chat": report.contact_id is not None,
        "reporter": cipher.unseal(report.reporter_name_cipher),
        "phone": f"{phone[:3]}****{phone[-4:]}" if phone else None,
        "id_number_given": report.reporter_id_cipher is not None,
        "callback_consent": report.callback_consent,
        "routed_to": report.routed_level,
        "route_reason": report.route_reason,
        "first_response_due": str(report.first_response_due),
        "answer_due": str(report.answer_due),
    }


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_transcript(
    path: Path, services: Services, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "setup" in case:  # the world a case needs first (a linked helper and households)
        SETUPS[case["setup"]](services)
    steps = _replay(services, clock, case)
    records = _records(services) | ({"visits": visits(services)} if "setup" in case else {})
    if request.config.getoption("--update-transcripts"):
        if "postgresql" in services.db.url:
            pytest.skip("transcripts are written from the SQLite run")
        updated = {k: v for k, v in case.items() if k not in ("steps", "records")}
        updated.update(steps=steps, records=records)
        path.write_text(
            yaml.safe_dump(updated, allow_unicode=True, sort_keys=False, width=100),
            encoding="utf-8",
        )
        return
    expected = yaml.safe_load(path.read_text(encoding="utf-8"))
    for number, (got, want) in enumerate(zip(steps, expected["steps"], strict=True)):
        assert got == want, f"{path.name}: step {number} differs"
    assert records == expected["records"], f"{path.name}: records differ"


def test_every_dialog_has_a_transcript() -> None:
    from bot.dialogs import DIALOGS

    covered = {path.name.split(".")[0] for path in CASES}
    assert set(DIALOGS) <= covered, f"dialogs without a transcript: {set(DIALOGS) - covered}"


def test_transcripts_advance_the_clock_explicitly() -> None:
    # A guard for readers: waits are spelled as timedelta keywords.
    for path in CASES:
        for step in yaml.safe_load(path.read_text(encoding="utf-8"))["steps"]:
            if "wait" in step:
                timedelta(**step["wait"])
