"""``hotline outbox``: the messages a person must decide on, and sending one again.

    hotline outbox list                 # unknown, failed and stopped rows, newest first
    hotline outbox list --status unknown
    hotline outbox resend 1234          # queue a copy of an unknown or failed row

The dispatcher never sends a notice or reminder twice (see :mod:`notifications.outbox`): one
that may have been lost mid-send is marked ``unknown``, and so is a reply whose every retry
may have been lost. Whether it arrived is for a person to find out (ask the villager, look
at the chat); ``resend`` is that person's decision.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.config import Settings
from notifications.sealing import open_payload

outbox_app = typer.Typer(help="Outbound messages that need a person's look.", no_args_is_help=True)


@outbox_app.command("list")
def list_(
    status: Annotated[
        list[str] | None, typer.Option(help="unknown, failed or stopped (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Rows that were perhaps lost, failed, or went to someone who blocked the bot."""
    from bot.services import build_services
    from notifications.outbox import TROUBLED, OutboxStatus, troubled

    try:
        wanted = tuple(OutboxStatus(s) for s in status) if status else TROUBLED
    except ValueError:
        typer.echo("error: --status is unknown, failed or stopped", err=True)
        raise typer.Exit(code=2) from None
    services = build_services(Settings())
    with services.db.read() as db:
        rows = troubled(db, wanted, limit)
    if not rows:
        typer.echo("nothing to look at")
    for row in rows:
        when = row.created_at.isoformat(timespec="seconds")
        payload = open_payload(row.payload, services.cipher)
        text = str(payload.get("text") or payload.get("edit") or "")[:40]
        typer.echo(
            f"#{row.id}\t{row.status}\t{row.channel}:{row.recipient}\t{when}\t"
            f"{row.last_error or ''}\t{text}"
        )


@outbox_app.command("resend")
def resend(row_id: int) -> None:
    """Queue a copy of an unknown or failed row (you checked it did not arrive)."""
    from bot.services import build_services
    from notifications.outbox import ResendError
    from notifications.outbox import resend as queue_copy

    services = build_services(Settings())
    try:
        with services.db.write() as db:
            copy = queue_copy(db, row_id, now=services.clock())
            copy_id = copy.id
    except ResendError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"queued #{copy_id} (a copy of #{row_id})")
