"""``hotline user`` and ``hotline migrate`` as a newcomer meets them: nothing shown for a change
that did not happen, the codes to use when a place is wrong, a fresh data folder made."""

from __future__ import annotations

from pathlib import Path

import pytest
from cadre_support import PASSWORD, VILLAGE_A
from sqlmodel import select
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


def test_invite_gives_a_code_the_cadres_chat_redeems_for_the_digest(cli_env: Settings) -> None:
    """The only way a chat gets the digest: a code from ``hotline user invite`` redeemed in
    that chat, with the name confirmed; a wrong answer to the name links nothing."""
    import re

    from bot.conversation import Incoming
    from bot.engine import Input
    from bot.services import build_services
    from intake.users import User

    added = runner.invoke(cli, ["user", "add", "cun", "--role", "village", "--place", VILLAGE_A,
                                "--name", "张村官", "--generate"])  # fmt: skip
    assert added.exit_code == 0, added.output
    assert runner.invoke(cli, ["user", "link", "cun"]).exit_code == 2  # the unverified path is gone
    invited = runner.invoke(cli, ["user", "invite", "cun"])
    assert invited.exit_code == 0, invited.output
    payload = re.search(r"/start (h_[A-Z0-9]+)", invited.output)
    assert payload is not None
    services = build_services(Settings())
    try:
        first = services.conversations.receive(
            Incoming("webhook", "c-1", "cadre-chat", Input(start=True, payload=payload[1]))
        )
        assert "“张村官”。是您本人吗？" in "\n".join(r.text for r in first.replies)
        yes = next(d for r in first.replies for label, d in r.buttons if label == "是")
        done = services.conversations.receive(
            Incoming("webhook", "c-2", "cadre-chat", Input(data=yes))
        )
        assert "每个工作日的待办摘要会发到这里" in "\n".join(r.text for r in done.replies)
        with services.db.read() as db:
            user = db.exec(select(User).where(User.username == "cun")).one()
        assert (user.chat_channel, user.chat_external_id) == ("webhook", "cadre-chat")
        again = services.conversations.receive(
            Incoming("webhook", "c-3", "someone-else", Input(start=True, payload=payload[1]))
        )
        assert "已经用过了" in "\n".join(r.text for r in again.replies)
    finally:
        services.db.dispose()
    assert runner.invoke(cli, ["user", "invite", "nobody"]).exit_code == 2
