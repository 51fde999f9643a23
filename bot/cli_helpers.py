"""``hotline roster import`` and ``hotline helper invite``: the helper's month from a shell.

Examples::

    hotline roster import 花名册.xlsx --place gangkou --dry-run
    hotline roster import 花名册.xlsx --place gangkou --rejected 未导入.xlsx
    hotline helper invite 李四 --phone 13812345678

``--place`` is the importer's scope, as a cadre account has it: a village, a township or a
region code. Rows for villages outside it are rejected, as on the upload page. Problems
are listed by row, column and reason (never with an ID or phone number); the rejected rows
go to an XLSX to correct and import again. Importing again updates, never duplicates.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.config import Settings

if TYPE_CHECKING:
    from bot.services import Services
    from intake.users import Scope

roster_app = typer.Typer(help="The roster (花名册) of monitored households.", no_args_is_help=True)
helper_app = typer.Typer(help="Helpers (帮扶责任人) and their chat links.", no_args_is_help=True)
SHOWN_PROBLEMS = 50


def _services() -> Services:
    from bot.services import build_services

    return build_services(Settings())


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _scope(services: Services, place: str) -> Scope:
    """The scope a cadre of ``place`` (village, township or region code) would have."""
    from intake.users import Role, Scope

    for policy in services.policies.values():
        region = policy.region.code
        if region == place:
            return Scope(Role.COUNTY, region, None, None)
        for township in policy.townships:
            if township.code == place:
                return Scope(Role.TOWNSHIP, region, township.code, None)
            for village in township.villages:
                if village.code == place:
                    return Scope(Role.VILLAGE, region, township.code, village.code)
    _fail(f"no village, township or region with code {place!r}")
    raise AssertionError("unreachable")


@roster_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="XLSX or CSV.")],
    place: Annotated[str, typer.Option(help="Your scope: a village, township or region code.")],
    dry_run: Annotated[bool, typer.Option(help="Check every row, write nothing.")] = False,
    rejected: Annotated[
        Path | None, typer.Option(help="Where to write the rejected rows (XLSX).")
    ] = None,
) -> None:
    """Import a roster in seed 001 附件1's columns plus 包抓干部电话."""
    from intake.helpers.roster import import_roster, rejected_xlsx
    from intake.helpers.roster_file import HeaderError
    from intake.workdays import SHANGHAI

    services = _services()
    scope = _scope(services, place)
    now = services.clock()
    today: date = now.astimezone(SHANGHAI).date()

    def progress(rows: int) -> None:
        typer.echo(f"\r已读取 {rows} 行 / {rows} rows read", nl=False, err=True)

    try:
        report = import_roster(
            services.db, services.cipher, file, scope=scope, policies=services.policies,
            actor=f"cli:{place}", now=now, today=today, dry_run=dry_run, progress=progress,
        )  # fmt: skip
    except HeaderError as exc:
        _fail(str(exc))
        return
    typer.echo("", err=True)
    verb = "将" if dry_run else "已"
    typer.echo(
        f"{verb}新增 {report.created} 户，更新 {report.updated} 户，未变 {report.unchanged} 户；"
        f"空行 {report.empty}，有问题 {len(report.problems)} 行"
        f"{'（试运行，未写入）' if dry_run else ''}"
    )
    typer.echo(
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}; "
        f"empty rows {report.empty}, rows with problems {len(report.problems)}"
        f"{' (dry run, nothing written)' if dry_run else ''}"
    )
    for problem in report.problems[:SHOWN_PROBLEMS]:
        typer.echo(f"  第{problem.row}行 row {problem.row} · {problem.column}: {problem.reason}")
    if len(report.problems) > SHOWN_PROBLEMS:
        typer.echo(f"  …… {len(report.problems) - SHOWN_PROBLEMS} more")
    if report.problems:
        out = rejected or file.with_name(file.stem + ".rejected.xlsx")
        out.write_bytes(rejected_xlsx(report))
        out.chmod(0o600)  # the rejected rows hold ID numbers, like the file itself
        typer.echo(f"未导入的行已写入 / rejected rows written to: {out}")


@helper_app.command("invite")
def invite(
    name: str,
    phone: Annotated[
        str | None, typer.Option(help="The helper's phone, when two helpers share a name.")
    ] = None,
) -> None:
    """Make a one-time link code (72 hours) for a helper to link their chat."""
    from sqlmodel import select

    from intake.helpers.assignments import find_helper_by_phone
    from intake.helpers.links import LINK_LIFETIME, deep_link_payload, new_link_code
    from intake.helpers.models import Helper, HelperState

    services = _services()
    with services.db.write() as session:
        if phone:
            found = find_helper_by_phone(session, services.cipher, phone)
            helpers = [found] if found is not None and found.name == name.strip() else []
        else:
            query = select(Helper).where(
                Helper.name == name.strip(), Helper.state == HelperState.ACTIVE
            )
            helpers = list(session.exec(query))
        if len(helpers) != 1:
            _fail(
                f"no active helper named {name!r}" if not helpers
                else f"{len(helpers)} helpers are named {name!r}; add --phone"
            )  # fmt: skip
        helper = helpers[0]
        code = new_link_code(
            session,
            services.cipher,
            helper_id=int(helper.id or 0),
            actor="cli",
            now=services.clock(),
        )
    hours = int(LINK_LIFETIME.total_seconds() // 3600)
    typer.echo(f"链接码 / link code: {code}")
    typer.echo(f"{hours}小时内有效，只能用一次 / valid for {hours} hours, once")
    payload = deep_link_payload(code)
    username = services.settings.telegram_bot_username
    if username:
        typer.echo(f"Telegram: https://t.me/{username}?start={payload}")
    typer.echo(f"/start {payload}")
