"""A cadre's day in Chromium: log in, filter, open an item, move it through the whole
procedure with three roles, export. The screenshots go to ``docs/images/`` for the
cadre's guide (``docs/cadre-guide.*.md``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from cadre_support import PASSWORD, VILLAGE_A, VILLAGE_B, add_user, apply_by_chat, callback_item
from openpyxl import load_workbook

from bot.services import Services
from intake.queue import QueueItem
from intake.users import Role

pytestmark = pytest.mark.browser
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def _shot(page: Any, name: str, *, full: bool = True) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name), full_page=full)


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/cadre/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/cadre/")


def _logout(page: Any, base: str) -> None:
    page.click("header button.link")
    page.wait_for_url(f"{base}/cadre/login")


def _do(
    page: Any, label: str, fill: dict[str, str] | None = None, checks: tuple[str, ...] = ()
) -> None:
    """Open the action's panel on the item page, fill it and submit it."""
    summary = page.locator("summary", has_text=label)
    details = summary.locator("xpath=..")
    if details.get_attribute("open") is None:
        summary.click()
    form = details.locator("form")
    for name in checks:
        form.locator(f"input[name={name}]").first.check()
    for name, value in (fill or {}).items():
        field = form.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def _seed(services: Services) -> QueueItem:
    item = apply_by_chat(services, sender="b-1", serial=1)
    apply_by_chat(services, sender="b-2", serial=2, head="李小梅", medical=False)
    apply_by_chat(services, sender="b-3", serial=3, head="张大明")
    apply_by_chat(services, sender="b-4", serial=4, village=VILLAGE_B, head="刘桂英")
    callback_item(services, VILLAGE_A, note="想问问低保怎么申请")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A, display_name="柏岭村 韩君和")
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou", display_name="港口乡专班 刘莹嗣")
    add_user(services, "xian", Role.COUNTY, "gangkou", display_name="崇阳县乡村振兴局")
    return item


def test_a_cadres_day(browser: Any, server: str, services: Services, clock: Any) -> None:
    from playwright.sync_api import expect

    item = _seed(services)
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, locale="zh-CN", accept_downloads=True
    )
    page = context.new_page()
    page.goto(f"{server}/cadre/")
    page.wait_for_url(f"{server}/cadre/login")
    _shot(page, "login.png")
    page.fill("input[name=username]", "cun")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("用户名或密码不对")
    _login(page, server, "cun")
    expect(page.locator(".items > li")).to_have_count(4)
    _shot(page, "queue.png")

    page.select_option("select[name=kind]", "callback")
    expect(page.locator(".items > li")).to_have_count(1)
    page.wait_for_url("**kind=callback**")
    _shot(page, "queue-filtered.png")
    page.select_option("select[name=kind]", "")
    expect(page.locator(".items > li")).to_have_count(4)

    page.click(f"text={item.tracking_code}")
    page.wait_for_url(f"{server}/cadre/items/{item.id}")
    expect(page.locator("#id-value")).to_contain_text("421***********")
    page.locator("form[hx-post$='reveal/id'] button").click()
    expect(page.locator("#id-value")).to_contain_text("19580315")
    _shot(page, "item.png")

    _do(page, "开始村级核实")
    _do(
        page,
        "村级上报乡镇",
        {"meeting_result": "村民代表会议评议通过（到会32人）"},
        ("home_visit", "consent_confirmed"),
    )
    expect(page.locator(".status").first).to_have_text("乡镇审核")
    _logout(page, server)

    _login(page, server, "xiang")
    page.select_option("select[name=status]", "township_review")
    expect(page.locator(".items > li")).to_have_count(1)
    page.click(f"text={item.tracking_code}")
    _do(page, "审核通过，开始公示")
    expect(page.locator(".status").first).to_have_text("公示中")
    _do(page, "公示期满无异议，报县确认")
    expect(page.locator(".error")).to_contain_text("公示还没结束")
    clock.advance(days=8)
    page.goto(f"{server}/cadre/items/{item.id}")
    _do(page, "公示期满无异议，报县确认")
    expect(page.locator(".status").first).to_have_text("县级确认")
    _logout(page, server)

    _login(page, server, "xian")
    page.goto(f"{server}/cadre/items/{item.id}")
    _do(
        page,
        "确认纳入监测",
        {
            "helper": "new",  # nobody helps in this village yet: a new helper
            "helper_name": "艾蔚然",
            "helper_phone": "13900000011",
            "measures": "医疗救助；大病保险二次报销",
            "reason_detail": "住院手术自付3.5万元",
            "measures_due": "2027-06-30",
        },
    )
    expect(page.locator(".status").first).to_have_text("已纳入监测")
    _shot(page, "item-enrolled.png")

    page.goto(f"{server}/cadre/exports")
    _shot(page, "exports.png")
    with page.expect_download() as download:
        page.click("text=花名册（XLSX）")
    rows = list(
        load_workbook(io.BytesIO(download.value.path().read_bytes())).active.iter_rows(
            values_only=True
        )
    )
    assert rows[2][:4] == ("序号", "镇", "村", "户主姓名") and rows[3][3] == "王大山"
    context.close()


def test_queue_and_notice_on_a_desktop(
    browser: Any, server: str, services: Services, clock: Any
) -> None:
    from playwright.sync_api import expect

    item = _seed(services)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    _login(page, server, "xiang")
    page.click(f"text={item.tracking_code}")
    _do(page, "开始村级核实")
    _do(page, "村级上报乡镇", {"meeting_result": "评议通过"}, ("home_visit", "consent_confirmed"))
    _do(page, "审核通过，开始公示")
    clock.advance(days=4)
    page.goto(f"{server}/cadre/")
    expect(page.locator(".items > li")).to_have_count(5)
    _shot(page, "queue-desktop.png", full=False)
    page.goto(f"{server}/cadre/exports/notice")
    expect(page.locator("table.notice tbody tr")).to_have_count(1)
    assert "421223" not in page.content() and "138" not in page.locator("table.notice").inner_text()
    _shot(page, "notice.png")
    context.close()
