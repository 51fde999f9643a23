"""The ``hotline`` command line: ``assess`` answers exactly at the rules' boundaries;
``serve`` believes forwarded headers only from the proxies it is told to trust."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cadre_support import PASSWORD, VILLAGE_A, add_user, csrf_of
from pydantic import ValidationError
from sqlmodel import select
from typer.testing import CliRunner

from bot.app import create_app
from bot.cli import app, server_config
from bot.config import Settings
from bot.services import Services
from intake.applications import CHINA
from intake.audit import AuditEvent
from intake.logins import Throttle
from intake.policy import bundled_policy_dir
from intake.users import Role

runner = CliRunner()


def assess(tmp_path: Path, answers: Any, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "answers.json"
    path.write_text(answers if isinstance(answers, str) else json.dumps(answers), encoding="utf-8")
    result = runner.invoke(app, ["assess", str(path), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("answers", "met"),
    [
        ({"annual_income_yuan": 100_000, "medical_out_of_pocket_yuan": 20_000}, False),
        ({"annual_income_yuan": 100_000, "medical_out_of_pocket_yuan": 20_001}, True),
        ({"annual_income_yuan": 200_000, "medical_out_of_pocket_yuan": 29_999}, False),
        ({"annual_income_yuan": 200_000, "medical_out_of_pocket_yuan": 30_000}, True),
        ({"disaster_loss_ratio": 0.49}, False),
        ({"disaster_loss_ratio": 0.5}, True),
        ({"disaster_loss_yuan": 49_999}, False),
        ({"disaster_loss_yuan": 50_000}, True),
        ({"unemployed_months": 2}, False),
        ({"unemployed_months": 3}, True),
        ({"only_house_destroyed": True, "can_rebuild": True}, False),
        ({"only_house_destroyed": True, "can_rebuild": False}, True),
    ],
)
def test_assess_prints_the_result_at_each_boundary(
    tmp_path: Path, answers: dict[str, Any], met: bool
) -> None:
    code, out, _ = assess(tmp_path, answers)
    assert code == 0
    result = json.loads(out)
    criterion = {
        "medical_out_of_pocket_yuan": "medical",
        "disaster_loss_ratio": "disaster",
        "disaster_loss_yuan": "disaster",
        "unemployed_months": "unemployment",
        "only_house_destroyed": "house_destroyed",
    }
    expected = next(criterion[k] for k in answers if k in criterion)
    assert (expected in result["criteria_met"]) is met
    assert result["recommendation"] in {"likely", "review", "cadre_decides"}
    assert result["explanations"]


def test_fast_track_and_negative_flags(tmp_path: Path) -> None:
    code, out, _ = assess(
        tmp_path, {"main_labourer_incapacitated": True, "negative": {"car_or_machinery": True}}
    )
    result = json.loads(out)
    assert code == 0 and result["fast_track"] is True
    assert result["negative_flags"] == ["car_or_machinery"]
    assert result["recommendation"] == "cadre_decides"


def test_the_policy_option_changes_the_region(tmp_path: Path) -> None:
    answers = {"annual_income_yuan": 100_000, "medical_out_of_pocket_yuan": 15_000}
    _, gangkou, _ = assess(tmp_path, answers)
    _, boluo, _ = assess(tmp_path, answers, "--policy", str(bundled_policy_dir() / "boluo.yaml"))
    assert json.loads(gangkou)["policy_version"] != json.loads(boluo)["policy_version"]
    assert json.loads(gangkou)["explanations"] != json.loads(boluo)["explanations"]


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"annual_income_yuan": -1}, "annual_income_yuan"),
        ({"household_size": 0}, "household_size"),
        ({"debts_yuan": "lots"}, "debts_yuan"),
        ({"disaster_loss_ratio": 1.2}, "disaster_loss_ratio"),
        ({"negative": {"car_or_machinery": "yes"}}, "negative.car_or_machinery"),
        ({"incme": 3}, "incme"),
        ([1, 2], "answers"),
    ],
)
def test_impossible_values_name_the_field_and_exit_non_zero(
    tmp_path: Path, answers: Any, field: str
) -> None:
    code, out, err = assess(tmp_path, answers)
    assert code == 2
    assert field in err
    assert "Traceback" not in out + err


def test_unreadable_inputs_fail_politely(tmp_path: Path) -> None:
    code, _, err = assess(tmp_path, "{broken")
    assert code == 2 and "not valid JSON" in err
    result = runner.invoke(app, ["assess", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "cannot read" in result.stderr
    bad_policy = tmp_path / "policy.yaml"
    bad_policy.write_text("version: [", encoding="utf-8")
    code, _, err = assess(tmp_path, {}, "--policy", str(bad_policy))
    assert code == 2 and "policy.yaml" in err and "Traceback" not in err


def test_two_bad_fields_are_both_named(tmp_path: Path) -> None:
    code, out, err = assess(tmp_path, {"household_size": 0, "debts_yuan": "lots", "incme": 3})
    assert code == 2 and out == ""
    for field in ("household_size", "debts_yuan", "incme"):
        assert field in err


def test_the_year_defaults_to_the_current_year_in_china_like_the_chat(tmp_path: Path) -> None:
    # The chat assesses an application in the year of its clock in China
    # (intake.applications); without --year the command does the same.
    before = datetime.now(CHINA).year
    code, out, _ = assess(tmp_path, {})
    assert code == 0
    assert json.loads(out)["year"] in {before, datetime.now(CHINA).year}
    _, out, _ = assess(tmp_path, {}, "--year", "2022")
    assert json.loads(out)["year"] == 2022


class _Serving:
    """``hotline serve``'s uvicorn settings for an app, on a free port, in a thread."""

    def __init__(self, settings: Settings, services: Services) -> None:
        config = server_config(settings, create_app(settings, services), host="127.0.0.1", port=0)
        config.lifespan = "off"  # no background ticks: only the HTTP path is under test
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:  # poll with a bound
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=20)


def _try_login(
    client: httpx.Client, username: str, password: str, forwarded_for: str
) -> httpx.Response:
    csrf = csrf_of(client.get("/cadre/login").text)
    return client.post(
        "/cadre/login",
        data={"username": username, "password": password, "csrf_token": csrf},
        headers={"X-Forwarded-For": forwarded_for},
    )


def _audited(services: Services, action: str) -> list[AuditEvent]:
    with services.db.read() as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)))


def test_serve_believes_no_forwarded_header_by_default(services: Services) -> None:
    """A login flood from 127.0.0.1 naming a new address per guess is still one address."""
    settings = services.settings
    assert settings.trusted_proxies == ""
    limit = Throttle().max_address_failures
    with _Serving(settings, services) as client:
        statuses = [
            _try_login(client, f"name{n}", "guess guess", f"198.51.100.{n + 1}").status_code
            for n in range(limit + 1)
        ]
        assert statuses == [401] * limit + [429]
    locked = _audited(services, "login.address_locked")
    assert [event.data["address"] for event in locked] == ["127.0.0.1"]


def test_serve_believes_a_trusted_proxy(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    settings = services.settings.model_copy(update={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"})
    with _Serving(settings, services) as client:
        # The proxy appends the address it saw; what the client wrote before it is not believed.
        response = _try_login(client, "cun", PASSWORD, "6.6.6.6, 203.0.113.7")
        assert response.status_code == 303
    assert [e.data["address"] for e in _audited(services, "user.login")] == ["203.0.113.7"]


@pytest.mark.parametrize("value", ["nginx", "127.0.0.1, proxy.local", "10.0.0.0/33", "*"])
def test_trusted_proxies_must_be_addresses(value: str) -> None:
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(trusted_proxies=value, _env_file=None)
