"""``hotline roster import`` and ``hotline helper invite`` as a township officer runs them."""

from __future__ import annotations

from pathlib import Path

import typer
from helpers_support import HELPER_MODELS, id_number, row, write_xlsx
from typer.testing import CliRunner

from bot.cli_helpers import helper_app, roster_app
from bot.config import Settings
from intake.db import import_models

import_models(HELPER_MODELS)
cli = typer.Typer()
cli.add_typer(roster_app, name="roster")  # as bot/cli.py mounts them
cli.add_typer(helper_app, name="helper")
runner = CliRunner()


def test_import_dry_run_then_for_real_then_invite(cli_env: Settings, tmp_path: Path) -> None:
    bad = row(2, id_text=id_number(2, wrong_check=True))
    path = write_xlsx(tmp_path / "花名册.xlsx", [row(1), bad])
    dry = runner.invoke(cli, ["roster", "import", str(path), "--place", "gangkou", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "将新增 1 户" in dry.output and "试运行" in dry.output
    real = runner.invoke(cli, ["roster", "import", str(path), "--place", "gangkou"])
    assert "已新增 1 户" in real.output and "第5行 row 5 · 户主证件号码" in real.output
    assert id_number(2, wrong_check=True) not in real.output  # never an ID number on screen
    rejected = tmp_path / "花名册.rejected.xlsx"
    assert rejected.exists() and rejected.stat().st_mode & 0o077 == 0
    again = runner.invoke(cli, ["roster", "import", str(path), "--place", "gangkou"])
    assert "已新增 0 户，更新 0 户，未变 1 户" in again.output
    invite = runner.invoke(cli, ["helper", "invite", "李帮扶"])
    assert invite.exit_code == 0, invite.output
    assert "/start h_" in invite.output and "72" in invite.output


def test_wrong_place_and_wrong_columns_are_refused_politely(
    cli_env: Settings, tmp_path: Path
) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", [row(1)[:10]], header=["序号", "乡", "村"])
    wrong = runner.invoke(cli, ["roster", "import", str(path), "--place", "nowhere"])
    assert wrong.exit_code == 2 and "no village, township or region" in wrong.output
    columns = runner.invoke(cli, ["roster", "import", str(path), "--place", "gangkou"])
    assert columns.exit_code == 2 and "第2列应为“镇”" in columns.output
    nobody = runner.invoke(cli, ["helper", "invite", "没有这个人"])
    assert nobody.exit_code == 2 and "no active helper" in nobody.output
