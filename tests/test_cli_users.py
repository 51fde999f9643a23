"""``hotline user`` and ``hotline migrate`` as a newcomer meets them: nothing shown for a change
that did not happen, the codes to use when a place is wrong, a fresh data folder made."""

from __future__ import annotations

from pathlib import Path

import pytest
from cadre_support import PASSWORD, VILLAGE_A
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.config import Settings

runner = CliRunner()


def test_an_empty_list_says_how_to_add_someone(cli_env: Settings) -> None:
    result = runner.invoke(cli, ["user", "list"])
    assert result.exit_code == 0 and "hotline user add" in result.output


def test_a_wrong_place_shows_no_password_and_names_the_codes(cli_env: Settings) -> None:
    result = runner.invoke(
        cli, ["user", "add", "cun", "--role", "village", "--place", "柏岭村", "--generate"]
    )
    assert result.exit_code == 2
    assert "password" not in result.output
    assert "village codes: " in result.output and VILLAGE_A in result.output
    listing = runner.invoke(cli, ["user", "list"]).output
    assert "cun\t" not in listing


def test_a_generated_password_is_shown_once_the_account_exists(cli_env: Settings) -> None:
    result = runner.invoke(
        cli, ["user", "add", "cun", "--role", "village", "--place", VILLAGE_A, "--generate"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("added cun") and lines[1].startswith("password: ")
    reset = runner.invoke(
        cli, ["user", "reset-password", "cun", "--password-stdin"], input=PASSWORD
    )
    assert reset.exit_code == 0 and "password: " not in reset.output


def test_migrate_makes_a_fresh_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = tmp_path / "not" / "there"
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(fresh))
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert (fresh / "hotline.db").exists()
