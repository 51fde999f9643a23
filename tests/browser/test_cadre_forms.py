"""Cadre forms in Chromium at phone width (issue 10): each form submitted with each required
field missing keeps everything typed and names what is missing; tap targets are at least
44 px; a revealed phone becomes a tel: link and its button goes. Screenshots for the guide.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cadre_support import PASSWORD, VILLAGE_A, add_user, apply_by_chat

from bot.services import Services
from intake.users import Role

pytestmark = pytest.mark.browser
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PHONE = {"width": 390, "height": 844}
TEXT = {
    "meeting_result": "评议通过（到会32人）",
    "reason": "户主当面说明",
    "merge_into": "ABCD-2345",
}
#: Each action form: its required fields (checkboxes and text) and an optional one.
FORMS = {
    "村级上报乡镇": (("home_visit", "consent_confirmed"), ("meeting_result",)),
    "撤回申请": (("applicant_asked",), ("reason",)),
    "合并到同户的另一事项": ((), ("merge_into",)),
}


def _login(page: Any, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/cadre/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _panel(page: Any, label: str) -> Any:
    summary = page.locator("summary", has_text=label)
    details = summary.locator("xpath=..")
    if details.get_attribute("open") is None:
        summary.click()
    return details.locator("form")


def _submit_without(page: Any, label: str, left_out: str) -> Any:
    """Fill the form of ``label`` but for ``left_out``, submit it, return the new form."""
    checks, texts = FORMS[label]
    form = _panel(page, label)
    for name in checks:
        if name != left_out:
            form.locator(f"input[name={name}]").check()
    for name in texts:
        if name != left_out:
            form.locator(f"[name={name}]").fill(TEXT[name])
    if "reason" not in texts:
        form.locator("[name=reason]").fill(TEXT["reason"])
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    return _panel(page, label)


def test_every_form_keeps_what_was_typed(browser: Any, server: str, services: Services) -> None:
    from playwright.sync_api import expect

    item = apply_by_chat(services, sender="bf-1")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    page = context.new_page()
    _login(page, server, "cun", "")
    expect(page.locator(".error")).to_contain_text("请填写：密码。")
    expect(page.locator("input[name=username]")).to_have_value("cun")
    _login(page, server, "cun")
    page.wait_for_url(f"{server}/cadre/")
    page.goto(f"{server}/cadre/items/{item.id}")
    _panel(page, "开始村级核实").locator("button").click()
    page.wait_for_load_state()
    for label, (checks, texts) in FORMS.items():
        for left_out in (*checks, *texts):
            form = _submit_without(page, label, left_out)
            expect(page.locator(".error")).to_contain_text("请填写：")
            expect(form.locator(f"[name={left_out}]")).to_have_attribute("aria-invalid", "true")
            for name in checks:
                if name != left_out:
                    expect(form.locator(f"input[name={name}]")).to_be_checked()
            for name in (*texts, "reason"):
                if name != left_out:
                    expect(form.locator(f"[name={name}]")).to_have_value(TEXT[name])
            if (label, left_out) == ("村级上报乡镇", "consent_confirmed"):
                IMAGES.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(IMAGES / "item-form-kept.png"), full_page=True)
            page.goto(f"{server}/cadre/items/{item.id}")
    page.goto(f"{server}/cadre/account")
    page.click("form[action='/cadre/account/link-code'] button[type=submit]")
    expect(page.locator("#link-code")).to_have_text(re.compile(r"^[A-Z0-9]{5}-[A-Z0-9]+$"))
    context.close()


def test_phone_first_item_page(browser: Any, server: str, services: Services) -> None:
    from playwright.sync_api import expect

    item = apply_by_chat(services, sender="bf-2")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    page = context.new_page()
    _login(page, server, "cun")
    page.wait_for_url(f"{server}/cadre/")
    page.goto(f"{server}/cadre/items/{item.id}")
    small = page.evaluate(
        """() => [...document.querySelectorAll(
             'button, summary, a.tap, a.export, header a, label.check')]
           .filter(e => e.offsetParent !== null)
           .map(e => [e.textContent.trim().slice(0, 20), e.getBoundingClientRect().height])
           .filter(([, h]) => h < 44)"""
    )
    assert small == [], f"tap targets under 44 px: {small}"
    masked = page.locator("#id-value")
    assert masked.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
    page.locator("form[hx-post$='reveal/phone'] button").click()
    expect(page.locator("a.tel")).to_have_attribute("href", "tel:13812345678")
    expect(page.locator("form[hx-post$='reveal/phone']")).to_have_count(0)
    assert page.locator("a.tel").bounding_box()["height"] >= 44
    page.screenshot(path=str(IMAGES / "item-phone-revealed.png"), full_page=False)
    page.goto(f"{server}/cadre/exports")
    for link in page.locator("a.export").all():
        assert link.bounding_box()["height"] >= 44, link.inner_text()
    page.goto(f"{server}/cadre/exports/notice")
    expect(page.locator(".notice-empty")).to_contain_text("目前没有")
    page.screenshot(path=str(IMAGES / "notice-empty.png"), full_page=True)
    context.close()
