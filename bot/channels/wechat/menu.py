"""The Official Account's custom menu (自定义菜单) and its limits.

WeChat allows at most 3 buttons in the bar and 5 under each; a bar button's name at most
16 bytes (4 Chinese characters), a sub-button's 60, a key 128. The hotline's four entries
(申请 / 查进度 / 反映问题 / 人工) therefore keep the first two in the bar and put the rest
under "更多": applying and checking progress are what villagers come for most.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_TOP = 3
MAX_SUB = 5
MAX_TOP_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128

#: (label, click key) of the hotline's menu; the channel maps each key to a dialog input.
HOTLINE_MENU: tuple[tuple[str, str], ...] = (
    ("申请", "apply"),
    ("查进度", "status"),
    ("反映问题", "report"),
    ("人工", "human"),
)


def build_menu(
    items: Sequence[tuple[str, str]] = HOTLINE_MENU, *, more: str = "更多"
) -> dict[str, Any]:
    """The ``menu/create`` body for ``items`` of ``(label, key)``, all ``click`` buttons.

    Up to three items fill the bar; with more, the first two stay and the rest go under a
    ``more`` button. ``ValueError`` for what WeChat would refuse.
    """
    buttons = [_click(label, key, MAX_SUB_NAME_BYTES) for label, key in items]
    if not buttons:
        raise ValueError("a menu needs at least one button")
    if len(buttons) <= MAX_TOP:
        bar = [_click(label, key, MAX_TOP_NAME_BYTES) for label, key in items]
        return {"button": bar}
    rest = buttons[MAX_TOP - 1 :]
    if len(rest) > MAX_SUB:
        raise ValueError(f"at most {MAX_TOP - 1 + MAX_SUB} menu items fit")
    bar = [_click(label, key, MAX_TOP_NAME_BYTES) for label, key in items[: MAX_TOP - 1]]
    _check_name(more, MAX_TOP_NAME_BYTES)
    return {"button": [*bar, {"name": more, "sub_button": rest}]}


def _click(label: str, key: str, name_limit: int) -> dict[str, Any]:
    _check_name(label, name_limit)
    if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"menu key {key!r} must be 1 to {MAX_KEY_BYTES} bytes")
    return {"type": "click", "name": label, "key": key}


def _check_name(name: str, limit: int) -> None:
    if not name or len(name.encode("utf-8")) > limit:
        raise ValueError(f"menu name {name!r} must be 1 to {limit} bytes")
