"""The Content-Security-Policy in Chromium: every page works under it (htmx filters and
reveals, the exports' village choice, the notice's print button) and the browser reports
no violation, neither in the console nor as a ``securitypolicyviolation`` event.
"""

from __future__ import annotations

from typing import Any

import pytest
from cadre_support import PASSWORD, VILLAGE_A, add_user, apply_by_chat, callback_item

from bot.services import Services
from intake.users import Role

pytestmark = pytest.mark.browser

#: Runs before the page's own scripts (injected by the browser, so the policy allows it).
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


class Watched:
    """A page whose console errors and CSP violations are collected."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on(
            "console",
            lambda message: self.console.append(message.text) if message.type == "error" else None,
        )

    def assert_clean(self, where: str) -> None:
        violations = self.page.evaluate("window.__violations")
        assert violations == [], where
        assert [m for m in self.console if "Content Security Policy" in m] == [], where
        styles = self.page.evaluate("document.querySelectorAll('style').length")
        assert styles == 0, f"{where}: an inline <style> was added"


def _login(watched: Watched, base: str, username: str) -> None:
    page = watched.page
    page.goto(f"{base}/cadre/login")
    watched.assert_clean("login page")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/cadre/")


def test_the_pages_work_under_the_policy(browser: Any, server: str, services: Services) -> None:
    from playwright.sync_api import expect

    item = apply_by_chat(services, sender="csp-1")
    callback_item(services, VILLAGE_A, note="请回电")
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    watched = Watched(browser)
    page = watched.page
    _login(watched, server, "xiang")
    expect(page.locator(".items > li")).to_have_count(2)
    page.select_option("select[name=kind]", "callback")  # htmx swaps the list in
    page.wait_for_url("**kind=callback**")
    expect(page.locator(".items > li")).to_have_count(1)
    watched.assert_clean("queue after an htmx filter")

    page.goto(f"{server}/cadre/items/{item.id}")
    page.locator("form[hx-post$='reveal/id'] button").click()  # htmx posts and swaps
    expect(page.locator("#id-value")).to_contain_text("19580315")
    watched.assert_clean("item page after an htmx reveal")

    page.goto(f"{server}/cadre/exports")
    page.select_option("select[data-export-village]", VILLAGE_A)  # cadre.js, not inline
    expect(page.locator("a.export").first).to_have_attribute(
        "href", f"{server}/cadre/exports/roster.xlsx?village={VILLAGE_A}"
    )
    watched.assert_clean("exports after choosing a village")

    page.goto(f"{server}/cadre/exports/notice")
    page.evaluate("window.print = () => { window.__printed = true; }")
    page.click("button[data-print]")
    assert page.evaluate("window.__printed") is True, "the print button calls print()"
    watched.assert_clean("notice page")

    page.goto(f"{server}/cadre/account")
    page.goto(f"{server}/cadre/items/999999")  # a refusal page
    watched.assert_clean("account and refusal pages")
    watched.context.close()


def test_an_injected_inline_script_is_refused(
    browser: Any, server: str, services: Services
) -> None:
    """The policy really bites: a script slipped into a page does not run."""
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    watched = Watched(browser)
    page = watched.page
    _login(watched, server, "cun")
    page.evaluate(
        """() => {
        const s = document.createElement("script");
        s.textContent = "window.__ran = true";
        document.body.appendChild(s);
    }"""
    )
    page.wait_for_function("window.__violations.length > 0")  # reported asynchronously
    assert page.evaluate("window.__ran === undefined")
    assert any("script-src" in v for v in page.evaluate("window.__violations"))
    watched.context.close()
