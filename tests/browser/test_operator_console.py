"""The hotline operator's console in Chromium, end to end: an operator logs in, takes a
call, runs the chat's own dialog for the caller by pressing its buttons and typing what the
caller says, reads the tracking code back from the large display, and finds the item again
with the search box."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cadre_support import PASSWORD, add_user

from bot.services import Services
from intake.users import Role
from locales import translate

pytestmark = pytest.mark.browser
CODE = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$")


def _zh(msgid: str) -> str:
    return translate("zh_CN", msgid)


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/cadre/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _press(page: Any, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()
    page.wait_for_load_state()


def _say(page: Any, text: str) -> None:
    page.fill("form.typed textarea[name=text]", text)
    page.click("form.typed button[type=submit]")
    page.wait_for_load_state()


def _take_call(page: Any, base: str) -> None:
    _login(page, base, "op")
    page.goto(f"{base}/cadre/hotline")
    page.click("button.new-call")
    page.wait_for_load_state()


def _read_code_and_search(page: Any, base: str) -> str:
    code = page.locator("#tracking-code").inner_text().strip()
    assert CODE.match(code), code
    size = page.locator("#tracking-code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 32, "large enough to read back over the phone"
    page.goto(f"{base}/cadre/hotline")
    page.fill("form.search input[name=q]", code)
    page.click("form.search button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".search-results .code", has_text=code).count() == 1
    return code


def test_an_operator_takes_a_call_back_request_and_finds_it(
    browser: Any, server: str, services: Services
) -> None:
    add_user(services, "op", Role.OPERATOR, "gangkou")
    page = browser.new_page()
    _take_call(page, server)
    _press(page, _zh("menu.human"))
    _say(page, "139 1234 5678")
    _say(page, "想问问低保")
    _read_code_and_search(page, server)


def test_an_operator_files_a_complaint_about_the_village_committee(
    browser: Any, server: str, services: Services
) -> None:
    add_user(services, "op", Role.OPERATOR, "gangkou")
    page = browser.new_page()
    _take_call(page, server)
    _press(page, _zh("menu.report"))
    _press(page, _zh("report.kind.complaint"))
    if page.get_by_role("button", name="柏岭村", exact=True).count() == 0:
        _press(page, "港口乡")  # two regions in the test policies: the township first
    _press(page, "柏岭村")
    _press(page, _zh("report.subject.committee"))
    _say(page, "评定低保的时候，村委会把自己亲戚评上了。")
    _press(page, _zh("report.identity.anonymous"))
    code = _read_code_and_search(page, server)
    page.click(f".search-results a:has-text('{code}')")
    page.wait_for_load_state()
    assert "村委会" in page.inner_text("main") and code in page.inner_text("h1")
