"""Colours as Chromium computes them: every button on the item page is readable (WCAG AA
contrast, 4.5:1, between its text and its background)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cadre_support import PASSWORD, VILLAGE_A, add_user, apply_by_chat

from bot.services import Services
from intake.users import Role

pytestmark = pytest.mark.browser


def _luminance(css: str) -> float:
    red, green, blue = (int(v) for v in re.findall(r"\d+", css)[:3])

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two ``rgb(…)`` colours."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_helper() -> None:
    assert round(contrast("rgb(255, 255, 255)", "rgb(0, 0, 0)")) == 21
    assert contrast("rgb(91, 100, 114)", "rgb(68, 80, 95)") < 1.5  # the old grey on grey


def test_every_item_page_button_is_readable(browser: Any, server: str, services: Services) -> None:
    item = apply_by_chat(services, sender="c-1")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{server}/cadre/login")
    page.fill("input[name=username]", "cun")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/cadre/")
    page.goto(f"{server}/cadre/items/{item.id}")
    reveal = page.locator("button.reveal", has_text="查看完整号码（会留痕）").first
    assert reveal.is_visible()
    colours = page.eval_on_selector_all(
        "main button:not(.link)",
        """buttons => buttons.filter(b => b.offsetParent !== null).map(b => {
            const style = getComputedStyle(b);
            return [b.textContent.trim(), style.color, style.backgroundColor];
        })""",
    )
    assert any(text == "查看完整号码（会留痕）" for text, _, _ in colours)
    for text, colour, background in colours:
        assert contrast(colour, background) >= 4.5, (text, colour, background)
    context.close()
