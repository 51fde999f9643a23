"""``hotline outbox``: a person sees what may have been lost and decides to send it again."""

from __future__ import annotations

from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.config import Settings
from bot.services import build_services
from notifications.outbox import OutboxMessage, OutboxStatus, enqueue
from notifications.sealing import open_payload

runner = CliRunner()


def rows_in(settings: Settings, statuses: dict[str, OutboxStatus]) -> dict[str, int]:
    services = build_services(settings)
    ids = {}
    with services.db.write() as db:
        for text, status in statuses.items():
            row = enqueue(db, channel="telegram", recipient="77", payload={"text": text})
            assert row is not None
            row.status = status
            row.last_error = f"{status} because"
            db.flush()
            assert row.id is not None
            ids[text] = row.id
    services.db.dispose()
    return ids


def test_list_shows_only_what_needs_a_look_and_resend_queues_a_copy(cli_env: Settings) -> None:
    ids = rows_in(
        cli_env,
        {
            "走访提醒甲": OutboxStatus.UNKNOWN,
            "走访提醒乙": OutboxStatus.FAILED,
            "走访提醒丙": OutboxStatus.SENT,
            "走访提醒丁": OutboxStatus.STOPPED,
        },
    )
    listing = runner.invoke(cli, ["outbox", "list"])
    assert listing.exit_code == 0, listing.output
    assert "走访提醒甲" in listing.output and "走访提醒乙" in listing.output
    assert "走访提醒丁" in listing.output and "走访提醒丙" not in listing.output
    only = runner.invoke(cli, ["outbox", "list", "--status", "unknown"]).output
    assert "走访提醒甲" in only and "走访提醒乙" not in only

    done = runner.invoke(cli, ["outbox", "resend", str(ids["走访提醒甲"])])
    assert done.exit_code == 0, done.output
    services = build_services(cli_env)
    with services.db.read() as db:
        rows = db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    services.db.dispose()
    copy = rows[-1]
    assert len(rows) == 5 and copy.status == OutboxStatus.PENDING
    assert open_payload(copy.payload, services.cipher) == {"text": "走访提醒甲"}
    assert copy.recipient == "77" and "走访提醒甲" not in str(copy.payload)
    assert rows[0].status == OutboxStatus.UNKNOWN and f"resent as #{copy.id}" in (
        rows[0].last_error or ""
    )

    for refused in (ids["走访提醒丙"], ids["走访提醒丁"], 999_999):
        result = runner.invoke(cli, ["outbox", "resend", str(refused)])
        assert result.exit_code == 2 and "error:" in result.output
    bad = runner.invoke(cli, ["outbox", "list", "--status", "lost"])
    assert bad.exit_code == 2


def test_an_empty_outbox_says_so(cli_env: Settings) -> None:
    result = runner.invoke(cli, ["outbox", "list"])
    assert result.exit_code == 0 and "nothing to look at" in result.output
