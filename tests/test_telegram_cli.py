"""``hotline telegram set-webhook / info / delete-webhook`` against the fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.telegram_api import FakeTelegram
from typer.testing import CliRunner

from bot.cli import app


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def env(tg: FakeTelegram, tmp_path: Path, token: str | None = None) -> dict[str, str]:
    return {
        "HOTLINE_DATA_DIR": str(tmp_path),
        "HOTLINE_TELEGRAM_TOKEN": token or tg.token,
        "HOTLINE_TELEGRAM_API_URL": tg.base_url,
        "HOTLINE_TELEGRAM_FILE_URL": tg.base_file_url,
        "HOTLINE_TELEGRAM_SECRET_TOKEN": "cli-secret",
    }


def test_set_inspect_and_delete_the_webhook(tg: FakeTelegram, tmp_path: Path) -> None:
    runner = CliRunner()
    url = "https://hotline.example.org/channels/telegram"
    result = runner.invoke(app, ["telegram", "set-webhook", url], env=env(tg, tmp_path))
    assert result.exit_code == 0, result.output
    hook = tg.calls_for("setWebhook")[0].params
    assert hook["url"] == url and hook["secret_token"] == "cli-secret"
    assert set(hook["allowed_updates"]) == {
        "message", "edited_message", "callback_query", "my_chat_member"
    }  # fmt: skip
    assert len(tg.calls_for("setMyCommands")) == 2

    tg.set_webhook_error("Connection refused", date=1_795_000_000)
    info = runner.invoke(app, ["telegram", "info"], env=env(tg, tmp_path))
    assert info.exit_code == 0, info.output
    assert url in info.output and "@fanpin_hotline_test_bot" in info.output
    assert "pending updates:" in info.output and "Connection refused" in info.output

    gone = runner.invoke(app, ["telegram", "delete-webhook"], env=env(tg, tmp_path))
    assert gone.exit_code == 0 and "deleted" in gone.output
    after = runner.invoke(app, ["telegram", "info"], env=env(tg, tmp_path))
    assert "(none" in after.output


def test_plain_http_and_a_rejected_token_are_refused_without_leaking_it(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    runner = CliRunner()
    plain = runner.invoke(
        app, ["telegram", "set-webhook", "http://x/channels/telegram"], env=env(tg, tmp_path)
    )
    assert plain.exit_code == 2 and "https" in plain.output
    wrong = "999:WRONG-token-value"
    refused = runner.invoke(app, ["telegram", "info"], env=env(tg, tmp_path, token=wrong))
    assert refused.exit_code == 2 and "InvalidToken" in refused.output
    assert "WRONG-token-value" not in refused.output
