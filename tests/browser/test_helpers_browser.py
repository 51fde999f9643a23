"""The helpers pages in Chromium: a township cadre imports the roster (dry run, then the
import) watching the progress bar that htmx refreshes, finds the helpers page filled in,
opens a helper and makes a link code, with the Content-Security-Policy in force."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cadre_support import PASSWORD, add_user
from helpers_support import row, write_xlsx

from bot.services import Services
from intake.users import Role

pytestmark = pytest.mark.browser
ROWS = 1200  # three batches of the importer: the bar moves more than once


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/cadre/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/cadre/")


def test_import_the_roster_then_invite_a_helper(
    browser: Any, server: str, services: Services, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    helpers = [("李帮扶", "13800000001"), ("王帮扶", "13800000002")]
    rows = [row(n, helper=helpers[n % 2][0], phone=helpers[n % 2][1]) for n in range(1, ROWS)]
    rows.append(row(ROWS, village="不存在村"))
    roster = write_xlsx(tmp_path / "花名册.xlsx", rows)
    context = browser.new_context(viewport={"width": 1024, "height": 800}, locale="zh-CN")
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    _login(page, server, "xiang")
    page.click("nav >> text=帮扶走访")
    expect(page.locator("h1")).to_have_text("帮扶责任人与走访")
    expect(page.locator(".empty")).to_be_visible()
    page.click("text=导入花名册")
    page.set_input_files("input[name=file]", str(roster))
    expect(page.locator("input[name=dry_run]")).to_be_checked()
    page.click("#roster-upload button[type=submit]")
    expect(page.locator("h1")).to_have_text("试导入结果")
    page.reload()  # the job is found again by its address
    job = page.locator("#job")
    expect(job).to_have_attribute("data-state", "done", timeout=60_000)
    expect(page.locator("#progress")).to_have_attribute("value", "100")
    expect(page.locator("#n-created")).to_have_text(str(ROWS - 1))
    expect(page.locator("#n-rejected")).to_have_text("1")
    expect(page.locator("tr.problem")).to_have_count(1)
    expect(page.locator("tr.problem td").nth(1)).to_have_text("村")
    with page.expect_download() as download:
        page.click("#rejected-download")
    assert download.value.suggested_filename.endswith(".xlsx")
    page.click("#import-now")
    expect(page.locator("h1")).to_have_text("导入花名册")
    # Polled, not reloaded: the fragment replaces itself until the import is done.
    expect(page.locator("#job")).to_have_attribute("data-state", "done", timeout=60_000)
    expect(page.locator("#imported")).to_be_visible()
    expect(page.locator("#progress-text")).to_contain_text(f"{ROWS} / {ROWS}")
    page.screenshot(path=str(tmp_path / "roster-import.png"), full_page=True)

    page.click("nav >> text=帮扶走访")
    table = page.locator("#helpers")
    expect(table.locator("tr.helper")).to_have_count(2)
    li = table.locator("tr.helper", has_text="李帮扶")
    li_households = str(sum(1 for n in range(1, ROWS) if n % 2 == 0))
    expect(li.locator(".n-households")).to_have_text(li_households)
    expect(li.locator(".n-due")).to_have_text(li_households)
    expect(li.locator(".linked")).to_have_text("否")
    li.locator("a").click()
    expect(page.locator("h1")).to_have_text("李帮扶")
    expect(page.locator("#linked")).to_contain_text("未绑定")
    page.click("#make-code")
    expect(page.locator("#bare-code")).to_have_text(re.compile(r"^[A-Z0-9]{5}-[A-Z0-9]{5}$"))
    expect(page.locator("#expires")).to_contain_text("2026-11-28")
    first = page.locator("table.answers a").first
    name = first.inner_text()
    first.click()
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator(".empty")).to_contain_text("还没有走访记录")
    assert refused == [], refused
    context.close()
