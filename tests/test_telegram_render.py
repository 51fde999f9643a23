"""Telegram rendering and update reading, without a network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from telegram import Bot, Update

from bot.channels.telegram_render import (
    CallbackDataTooLong,
    keyboard,
    parts,
    pressed_text,
    split_text,
    utf16_len,
)
from bot.channels.telegram_updates import Decoded, Ignored, Membership, decode
from bot.dialogs import DIALOGS
from bot.flow import Context, Village
from intake.policy import load_policies

BOT = Bot("1:fake")


def update(**fields: object) -> Update:
    return Update.de_json({"update_id": 9, **fields}, BOT)


def message(text: str | None = None, chat: int = 42, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "message_id": 3,
        "date": 0,
        "chat": {"id": chat, "type": "private" if chat > 0 else "group", "title": "g"},
        "from": {"id": abs(chat), "is_bot": False, "first_name": "U", "language_code": "en"},
        **fields,
    }
    if text is not None:
        body["text"] = text
    return body


def test_long_texts_are_cut_where_reading_allows_within_telegrams_length() -> None:
    text = "".join(f"第{n}句话说完了。" for n in range(1500))
    pieces = split_text(text)
    assert len(pieces) > 1 and "".join(pieces) == text
    assert all(utf16_len(p) <= 4096 and p.endswith("。") for p in pieces)
    emoji = split_text("😀" * 3000)  # two UTF-16 units each
    assert [utf16_len(p) for p in emoji] == [4096, 1904]
    assert split_text("短") == ["短"]


def test_parts_escape_html_and_put_the_keyboard_last() -> None:
    rendered = parts(
        {"text": "<b>王</b> & " + "长" * 5000, "buttons": [{"label": "是", "data": "a:y"}]}
    )
    assert rendered[0].html.startswith("&lt;b&gt;王&lt;/b&gt; &amp; ")
    assert rendered[0].markup is None and rendered[-1].markup is not None


def test_keyboards_group_short_labels_and_keep_global_buttons_apart() -> None:
    markup = keyboard(
        [("是", "q:yes"), ("否", "q:no"), ("不清楚", "q:unknown"), ("返回", "g:back")]
    )
    assert markup is not None
    rows = [[b.callback_data for b in row] for row in markup.inline_keyboard]
    assert rows == [["q:yes", "q:no", "q:unknown"], ["g:back"]]
    long = keyboard(
        [("给自己家申请（户主本人）", "a:1"), ("替家里人代办（家人、亲戚、村干部）", "a:2")]
    )
    assert long is not None and [len(r) for r in long.inline_keyboard] == [1, 1]
    with pytest.raises(CallbackDataTooLong):
        keyboard([("x", "q:" + "v" * 63)])


def test_every_button_of_every_dialog_fits_telegrams_64_bytes() -> None:
    villages = tuple(
        Village(v.code, v.name, t.code, t.name)
        for p in load_policies(None).values()
        for t, v in p.villages()
    )
    context = Context(now=datetime(2026, 11, 25, tzinfo=UTC), villages=villages)
    data = [
        f"{step.id}:{choice.value}"
        for dialog in DIALOGS.values()
        for step in dialog.steps
        for choice in (*step.options({}, context), *step.quick)
    ]
    assert len(data) > 50
    assert max(len(d.encode()) for d in data) <= 64


def test_the_tapped_choice_is_written_under_the_question() -> None:
    assert pressed_text("家里有人生大病吗？", "<是>") == "家里有人生大病吗？\n\n☑ &lt;是&gt;"
    assert pressed_text("长" * 4095, "是") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start v_gangkou-bailing", ("start", "v_gangkou-bailing")),
        ("/start", ("start", None)),
        ("/help@fanpin_bot", ("data", "g:help")),
        ("/status", ("data", "g:status")),
        ("/language", ("data", "g:language")),
        ("/cancel", ("data", "g:menu")),
        ("/unknown", ("text", "/unknown")),
        ("3.5万", ("text", "3.5万")),
    ],
)
def test_commands_become_engine_inputs(text: str, expected: tuple[str, object]) -> None:
    decoded = decode(update(message=message(text)))
    assert isinstance(decoded, Decoded)
    given = decoded.incoming.input
    kind, value = expected
    if kind == "start":
        assert given.start and given.payload == value
    elif kind == "data":
        assert given.data == value
    else:
        assert given.text == value
    assert decoded.incoming.sequence == 9 and decoded.incoming.language == "en"


def test_files_are_kept_and_other_kinds_are_answered_or_ignored() -> None:
    voice = {"file_id": "V", "file_unique_id": "v", "duration": 4, "mime_type": "audio/ogg"}
    decoded = decode(update(message=message(voice=voice, caption="我家的情况")))
    assert isinstance(decoded, Decoded)
    assert decoded.incoming.meta["aside"] == "telegram.attachment.voice"
    assert decoded.incoming.meta["attachment"]["caption"] == "我家的情况"
    sticker = {"file_id": "S", "file_unique_id": "s", "width": 1, "height": 1,
               "is_animated": False, "is_video": False, "type": "regular"}  # fmt: skip
    unsupported = decode(update(message=message(sticker=sticker)))
    assert isinstance(unsupported, Decoded)
    assert unsupported.incoming.meta == {"aside": "telegram.unsupported"}
    assert isinstance(decode(update(message=message("hi", chat=-5))), Ignored)
    assert isinstance(decode(update(message=message(new_chat_title="x"))), Ignored)
    own = {"phone_number": "13812345678", "first_name": "U", "user_id": 42}
    shared = decode(update(message=message(contact=own)))
    assert isinstance(shared, Decoded) and shared.incoming.input.text == "13812345678"


def test_a_button_press_is_keyed_by_the_pressed_message() -> None:
    markup = {"inline_keyboard": [[{"text": "是", "callback_data": "illness:yes"}]]}
    query = {
        "id": "77",
        "from": {"id": 42, "is_bot": False, "first_name": "U"},
        "chat_instance": "1",
        "data": "illness:yes",
        "message": message("家里有人生大病吗？", reply_markup=markup),
    }
    decoded = decode(update(callback_query=query))
    assert isinstance(decoded, Decoded)
    assert decoded.incoming.external_id == "cb:42:3" and decoded.callback_id == "77"
    assert decoded.incoming.ahead == (
        {"edit": {"message_id": 3, "html": "家里有人生大病吗？\n\n☑ 是"}},
    )
    bot = {"id": 1, "is_bot": True, "first_name": "b"}
    member = {
        "chat": {"id": 42, "type": "private"},
        "from": {"id": 42, "is_bot": False, "first_name": "U"},
        "date": 0,
        "old_chat_member": {"status": "member", "user": bot},
        "new_chat_member": {"status": "kicked", "until_date": 0, "user": bot},
    }
    assert decode(update(my_chat_member=member)) == Membership("42", blocked=True)
