"""The pure dialog engine: commands, stale buttons, editing, expiry — and no input crashes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogs import DIALOGS
from bot.dialogs.self_application import STEPS
from bot.engine import Engine, Input, Session, Sprint
from bot.flow import Context, Effect, Reply, Village
from bot.render import render
from locales import LOCALES

NOW = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
VILLAGES = (
    Village("v-a", "甲村", "t-1", "一乡"),
    Village("v-b", "乙村", "t-1", "一乡"),
    Village("v-c", "丙村", "t-2", "二乡"),
)
ENGINE = Engine(DIALOGS)


def context(**changes: object) -> Context:
    base = Context(now=NOW, villages=VILLAGES)
    return Context(**{**base.__dict__, **changes})


def replies(sprint: Sprint) -> list[Reply]:
    return [e for e in sprint.events if isinstance(e, Reply)]


def effects(sprint: Sprint) -> list[Effect]:
    return [e for e in sprint.events if isinstance(e, Effect)]


def last_buttons(sprint: Sprint) -> list[str]:
    with_buttons = [r for r in replies(sprint) if r.buttons]
    return [b.data for b in with_buttons[-1].buttons] if with_buttons else []


def run(inputs: list[Input], ctx: Context | None = None) -> tuple[Session, Sprint]:
    state: Session | None = None
    sprint = ENGINE.resume(None, Input(start=True), ctx or context())
    state = sprint.session
    for given_input in inputs:
        sprint = ENGINE.resume(state, given_input, ctx or context())
        state = sprint.session
    return state, sprint


def test_first_contact_greets_and_shows_the_menu() -> None:
    state, sprint = run([])
    assert state.dialog == "menu"
    assert [r.parts[0].msgid for r in replies(sprint)] == ["welcome", "menu.prompt"]  # type: ignore[union-attr]


def test_two_townships_ask_township_then_its_villages() -> None:
    state, sprint = run([Input(data="choose:apply"), Input(data="for_whom:self")])
    assert state.step == "township"
    state, sprint = run(
        [Input(data="choose:apply"), Input(data="for_whom:self"), Input(data="township:t-1")]
    )
    assert state.step == "village"
    assert last_buttons(sprint) == ["village:v-a", "village:v-b", "g:back"]


def test_a_known_village_is_not_asked() -> None:
    state, _ = run(
        [Input(data="choose:apply"), Input(data="for_whom:self")], context(known_village="v-c")
    )
    assert state.step == "illness"
    assert state.answers["village"] == "v-c"


def test_a_stale_button_does_not_answer_the_current_question() -> None:
    state, sprint = run(
        [Input(data="choose:apply"), Input(data="for_whom:self"), Input(data="for_whom:proxy")]
    )
    assert state.step == "township"
    assert state.answers["for_whom"] == "self"
    assert replies(sprint)[0].parts[0].msgid == "error.stale_button"  # type: ignore[union-attr]


def test_back_returns_one_step_and_then_to_the_menu() -> None:
    state, _ = run([Input(data="choose:apply"), Input(data="for_whom:self"), Input(text="返回")])
    assert (state.dialog, state.step) == ("self_application", "for_whom")
    state, _ = run([Input(data="choose:apply"), Input(data="g:back")])
    assert state.dialog == "menu"


def test_three_wrong_answers_offer_help() -> None:
    _, sprint = run([Input(data="choose:apply")] + [Input(text="嗯嗯嗯")] * 3)
    ids = [r.parts[0].msgid for r in replies(sprint)]  # type: ignore[union-attr]
    assert "error.need_help" in ids


def test_human_suspends_and_resumes_the_application() -> None:
    steps = [
        Input(data="choose:apply"),
        Input(data="for_whom:self"),
        Input(data="township:t-2"),
        Input(data="village:v-c"),
        Input(text="人工"),
        Input(text="13812345678"),
        Input(data="note:skip"),
    ]
    state, sprint = run(steps)
    assert (state.dialog, state.step) == ("self_application", "illness")
    requested = effects(sprint)
    assert requested and requested[0].name == "callback_requested"
    assert requested[0].data["phone"] == "13812345678"


def test_expired_session_restarts_politely() -> None:
    state, _ = run([Input(data="choose:apply")])
    later = context(now=NOW + timedelta(days=3, seconds=1))
    sprint = ENGINE.resume(state, Input(data="for_whom:self"), later)
    assert sprint.session.dialog == "menu"
    assert replies(sprint)[0].parts[0].msgid == "session.expired"  # type: ignore[union-attr]


def test_session_within_expiry_resumes() -> None:
    state, _ = run([Input(data="choose:apply")])
    later = context(now=NOW + timedelta(days=2, hours=23))
    sprint = ENGINE.resume(state, Input(data="for_whom:self"), later)
    assert sprint.session.answers["for_whom"] == "self"
    assert replies(sprint)[0].parts[0].msgid == "session.welcome_back"  # type: ignore[union-attr]


def _walk_to_summary() -> list[Input]:
    return (
        [
            Input(data=d)
            for d in (
                "choose:apply",
                "for_whom:self",
                "township:t-1",
                "village:v-a",
                "illness:no",
                "disaster:no",
                "accident:no",
                "house:no",
                "school:no",
                "job:no",
                "business:no",
                "size:3",
            )
        ]
        + [Input(text="10000"), Input(text="12000"), Input(data="debts:0")]
        + [
            Input(data=f"{s}:no")
            for s in (
                "neg_house",
                "neg_car",
                "neg_job",
                "neg_business",
                "neg_pension",
                "neg_conduct",
            )
        ]
        + [
            Input(text="王五"),
            Input(text="421223195803151230"),
            Input(text="13812345678"),
            Input(data="consent:agree"),
        ]
    )


def test_editing_from_the_summary_asks_new_follow_ups_then_returns() -> None:
    steps = [
        *_walk_to_summary(),
        Input(data="summary:edit"),
        Input(data="edit:illness"),
        Input(data="illness:yes"),
    ]
    state, _ = run(steps)
    assert state.step == "medical_cost"
    state, _ = run([*steps, Input(text="40000")])
    assert state.step == "summary"
    state, sprint = run([*steps, Input(text="40000"), Input(data="summary:confirm")])
    submitted = effects(sprint)[0]
    assert submitted.name == "application_submitted"
    assert submitted.data["answers"]["medical_out_of_pocket_yuan"] == 40000
    assert submitted.data["answers"]["consent_at"] == NOW.isoformat()


def test_declining_consent_saves_a_draft_offered_in_the_menu() -> None:
    steps = [*_walk_to_summary()[:-1], Input(data="consent:later")]
    state, sprint = run(steps)
    assert effects(sprint)[0].name == "draft_saved"
    assert "choose:resume" in last_buttons(sprint)
    assert state.dialog == "menu"


def test_session_round_trips_through_json() -> None:
    state, _ = run(_walk_to_summary())
    assert Session.from_json(json.loads(json.dumps(state.to_json()))) == state


_TEXTS = st.one_of(
    st.text(max_size=50),
    st.sampled_from(
        [
            "返回",
            "重新开始",
            "帮助",
            "人工",
            "菜单",
            "1",
            "2",
            "3万",
            "不清楚",
            "是",
            "四万多",
            "一个月500",
            "2.5",
            "对",
            "不对",
            "没",
            "转人工",
            "我的申请",
            "编号忘了",
            "/start",
            "我的编号是5CJJ-PX5F",
            "421223195803151230",
            "13812345678",
            "5CJJ-PX5F",
            "",
            " ",
            "\x00",
            "🙂",
        ]
    ),
    st.text(min_size=2000, max_size=5000),
)
_ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("press"), st.integers(min_value=0, max_value=30)),
        st.tuples(st.just("type"), _TEXTS),
        st.tuples(st.just("data"), st.text(max_size=80)),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=5 * 24 * 3600)),
        st.tuples(st.just("start"), st.none()),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ACTIONS)
def test_no_input_sequence_crashes_the_engine(actions: list[tuple[str, object]]) -> None:
    now = NOW
    sprint = ENGINE.resume(None, Input(start=True), context(now=now))
    for kind, value in actions:
        buttons = last_buttons(sprint)
        if kind == "wait":
            now += timedelta(seconds=int(value))  # type: ignore[call-overload]
            continue
        if kind == "press":
            given_input = Input(data=buttons[int(value) % len(buttons)]) if buttons else Input()  # type: ignore[call-overload]
        elif kind == "type":
            given_input = Input(text=str(value))
        elif kind == "start":
            given_input = Input(start=True)
        else:
            given_input = Input(data=str(value))
        sprint = ENGINE.resume(sprint.session, given_input, context(now=now))
        assert replies(sprint), "every input gets an answer"
        for reply in replies(sprint):
            for locale in LOCALES:
                render(reply, locale)
            assert all(len(b.data.encode()) <= 64 for b in reply.buttons)
        assert Session.from_json(json.loads(json.dumps(sprint.session.to_json()))) is not None


# --- what a newcomer types --------------------------------------------------------------

APPLY = [Input(data="choose:apply"), Input(data="for_whom:self")]
GANGKOU_LIKE = (
    Village("bailing", "柏岭村", "t-1", "一乡"),
    Village("hengling", "横岭村", "t-1", "一乡"),
    Village("dadonggang", "大东港村", "t-1", "一乡"),
    Village("xiaodonggang", "小东港村", "t-1", "一乡"),
    Village("gangkou", "港口村", "t-1", "一乡"),
)


def msgids(sprint: Sprint) -> list[str]:
    return [p.msgid for r in replies(sprint) for p in r.parts if not isinstance(p, str)]


def shown(sprint: Sprint, locale: str = "zh_CN") -> str:
    return "\n".join(render(r, locale).text for r in replies(sprint))


def test_an_empty_message_asks_the_question_again_kindly() -> None:
    for typed in ("", "   ", "\u3000", "\n"):
        state, sprint = run([*APPLY[:1], Input(text=typed)])
        assert (state.step, state.invalid) == ("for_whom", 0)
        assert msgids(sprint) == ["error.empty", "apply.for_whom"]
        assert "for_whom:self" in last_buttons(sprint)
        state, sprint = run([Input(text=typed)])
        assert msgids(sprint) == ["error.empty", "menu.prompt"]


def test_part_of_a_label_chooses_when_only_one_choice_has_it() -> None:
    ctx = context(villages=GANGKOU_LIKE)
    for typed, village in (("柏岭", "bailing"), ("港口", "gangkou"), ("横", "hengling")):
        state, _ = run([*APPLY, Input(text=typed)], ctx)
        assert (state.step, state.answers["village"]) == ("illness", village), typed
    state, _ = run([Input(data="choose:apply"), Input(text="自己")])
    assert state.answers["for_whom"] == "self"
    state, _ = run([Input(data="choose:apply"), Input(text="代办")])
    assert state.answers["for_whom"] == "proxy"
    state, _ = run([Input(text="查询")])
    assert (state.dialog, state.step) == ("status", "code")


def test_an_ambiguous_part_says_so_and_shows_the_buttons_again() -> None:
    ctx = context(villages=GANGKOU_LIKE)
    state, sprint = run([*APPLY, Input(text="东港")], ctx)
    assert state.step == "village" and "village" not in state.answers
    assert msgids(sprint)[0] == "error.choice_ambiguous"
    text = shown(sprint)
    assert "“东港”对应好几个选项" in text
    assert "3. 大东港村\n4. 小东港村" in text
    assert last_buttons(sprint)[:5] == [f"village:{v.code}" for v in GANGKOU_LIKE]
    _, sprint = run([*APPLY, Input(text="村")], ctx)
    assert msgids(sprint)[0] == "error.choice_ambiguous"
    _, sprint = run([*APPLY, Input(text="东京")], ctx)
    assert msgids(sprint)[0] == "error.choice"


def test_whole_words_still_win_over_parts() -> None:
    # "是" is a whole label; "不" a no-word, though it is part of "不清楚".
    steps = [*APPLY, Input(data="township:t-1"), Input(data="village:v-a")]
    state, _ = run([*steps, Input(text="是")])
    assert state.answers["has_illness"] is True
    state, _ = run([*steps, Input(text="不")])
    assert state.answers["has_illness"] is False
    state, _ = run([*steps, Input(text="e")])  # one Latin letter is too little to match
    assert "has_illness" not in state.answers


def test_button_numbers_typed_as_chinese_keyboards_do() -> None:
    for typed in ("1", "１", "#1", "＃1", "# 1", "＃ １"):
        state, _ = run([Input(data="choose:apply"), Input(text=typed)])
        assert state.answers.get("for_whom") == "self", typed
    state, _ = run([Input(data="choose:apply"), Input(text="＃2")])
    assert state.answers["for_whom"] == "proxy"
    _, sprint = run([Input(data="choose:apply"), Input(text="#9")])
    assert msgids(sprint)[0] == "error.choice"


JOB = [
    *APPLY,
    Input(data="township:t-1"),
    Input(data="village:v-a"),
    *(Input(data=f"{s}:no") for s in ("illness", "disaster", "accident", "house", "school")),
    Input(data="job:yes"),
]


def test_months_accept_half_a_year_and_a_year() -> None:
    for typed, months in (("半年", 6), ("一年", 12), ("4个月", 4)):
        state, _ = run([*JOB, Input(text=typed)])
        assert state.answers["unemployed_months"] == months, typed


def test_a_bad_number_gets_examples_in_its_own_unit() -> None:
    _, sprint = run([*JOB, Input(text="很久")])
    assert "比如 3 或 6（单位：个月" in shown(sprint)
    assert "万" not in shown(sprint).split("\n")[0]
    assert "e.g. 3 or 6 (months)" in shown(sprint, "en")
    size = [*JOB, Input(data="job_months:unknown"), Input(data="business:no")]
    _, sprint = run([*size, Input(text="很多")])
    assert "比如 3 或 5（单位：人）" in shown(sprint)
    assert "e.g. 3 or 5 (people)" in shown(sprint, "en")
    _, sprint = run([*size, Input(data="size:3"), Input(text="很多")])
    assert "比如 3000 或 3万（单位：元）" in shown(sprint)


def test_every_number_question_has_a_hint_and_examples_for_its_unit() -> None:
    from bot.flow import NUMBER_UNITS, Kind

    steps = [s for d in DIALOGS.values() for s in d.steps if s.kind is Kind.NUMBER]
    assert steps
    for step in steps:
        assert step.unit in NUMBER_UNITS, step.id
    _, sprint = run([*JOB, Input(text="4"), Input(data="business:no")])
    assert "(please type the number of people)" in shown(sprint, "en")
    assert "in people" not in shown(sprint, "en")


HEAD_NAME = [
    *JOB[:-1],
    Input(data="job:no"),
    Input(data="business:no"),
    Input(data="size:3"),
    Input(text="10000"),
    Input(text="12000"),
    Input(data="debts:0"),
    *(
        Input(data=f"{s}:no")
        for s in ("neg_house", "neg_car", "neg_job", "neg_business", "neg_pension", "neg_conduct")
    ),
]


def test_a_name_with_emoji_or_digits_is_asked_again_kindly() -> None:
    state, _ = run(HEAD_NAME)
    assert state.step == "head_name"
    for typed in ("王大爷😀", "王123", "·王五", "王五!", "😀😀"):
        state, sprint = run([*HEAD_NAME, Input(text=typed)])
        assert state.step == "head_name" and "head_name" not in state.answers, typed
        assert msgids(sprint)[:2] == ["error.name", "apply.head_name"], typed
    state, sprint = run([*HEAD_NAME, Input(text="王")])
    assert msgids(sprint)[0] == "error.length"


def test_names_in_any_script_with_dots_and_spaces_are_kept() -> None:
    for typed, stored in (
        ("王大爷", "王大爷"),
        ("买买提•艾力", "买买提·艾力"),
        ("买买提 · 艾力", "买买提·艾力"),
        ("  Li   Wei ", "Li Wei"),
        ("ＷＡＮＧ", "WANG"),
        ("王五。", "王五"),  # a full stop at the end is not part of the name
    ):
        state, _ = run([*HEAD_NAME, Input(text=typed)])
        assert state.answers.get("head_name") == stored, typed


STATUS = [Input(data="choose:status")]


def test_a_code_with_a_wrong_check_symbol_is_said_to_have_a_misread_character() -> None:
    for typed in ("F57C-NP95", "ABCD-2345"):
        state, sprint = run([*STATUS, Input(text=typed)])
        assert (state.dialog, state.step) == ("status", "code")
        assert msgids(sprint)[0] == "error.tracking_code.check"
        assert f"编号 {typed} 核对不上，可能有一个字符看错或打错了" in shown(sprint)
        assert "8位" not in shown(sprint).split("\n")[0]


def test_a_code_with_look_alikes_names_them() -> None:
    _, sprint = run([*STATUS, Input(text="F57C-NP9O")])
    assert msgids(sprint)[0] == "error.tracking_code.look_alike"
    text = shown(sprint)
    assert "您写的“O”可能是 D 或 Q" in text
    assert '"O" is probably D or Q' in shown(sprint, "en")
    _, sprint = run([*STATUS, Input(text="ab1d-z34g")])
    assert "“1”可能是 7、J 或 T" in shown(sprint) and "“Z”可能是 2" in shown(sprint)
    _, sprint = run([*STATUS, Input(text="ABC")])
    assert msgids(sprint)[0] == "error.tracking_code"


def test_a_mistyped_code_at_the_menu_is_explained_not_looked_up() -> None:
    state, sprint = run([Input(text="F57C-NP95")])
    assert state.dialog == "menu" and not effects(sprint)
    assert msgids(sprint)[:2] == ["error.tracking_code.check", "menu.prompt"]
    assert "None" not in shown(sprint)
    _, sprint = run([Input(text="F57C-NP9O")])
    assert msgids(sprint)[0] == "error.tracking_code.look_alike"
    _, sprint = run([Input(text="ballroom")])  # a word of 8 letters, not a code
    assert msgids(sprint)[0] == "error.choice"
    _, sprint = run([Input(text="ABCD-234G")])
    assert [(e.name, dict(e.data)) for e in effects(sprint)] == [
        ("status_requested", {"code": "ABCD-234G"})
    ]


def test_a_not_sure_negative_answer_reaches_the_assessment() -> None:
    from bot.dialogs.self_application import assessment_answers

    steps = [*HEAD_NAME[:-6], Input(data="neg_house:no"), Input(data="neg_car:unknown")]
    state, _ = run(steps)
    assert state.answers["car_or_machinery"] == "unknown"
    answers = assessment_answers(state.answers)
    assert answers["negative"] == {"county_town_house": False}
    assert answers["negative_unknown"] == ["car_or_machinery"]


# --- numbers read with some guessing are confirmed back (issue 10) -----------------------

MEDICAL = [*APPLY, Input(data="township:t-1"), Input(data="village:v-a"), Input(data="illness:yes")]
INCOME = [*HEAD_NAME[: HEAD_NAME.index(Input(text="10000"))]]


def test_an_approximate_amount_is_confirmed_before_it_is_stored() -> None:
    state, sprint = run([*MEDICAL, Input(text="我老伴去年住院自己掏了四万多")])
    assert state.step == "medical_cost" and "medical_out_of_pocket_yuan" not in state.answers
    assert shown(sprint) == "大约 40,000 元，对吗？"
    assert shown(sprint, "en") == "About 40,000 yuan, right?"
    assert last_buttons(sprint) == ["medical_cost:ok", "medical_cost:redo", "g:back"]
    for yes in (
        Input(data="medical_cost:ok"),
        Input(text="对"),
        Input(text="嗯"),
        Input(text="好的"),
    ):
        state, _ = run([*MEDICAL, Input(text="四万多"), yes])
        assert (state.step, state.answers["medical_out_of_pocket_yuan"]) == ("disaster", 40000)
        assert state.pending is None


def test_saying_no_to_a_guess_asks_the_question_again() -> None:
    for no in (Input(data="medical_cost:redo"), Input(text="不对"), Input(text="没")):
        state, sprint = run([*MEDICAL, Input(text="3万左右"), no])
        assert state.step == "medical_cost" and state.pending is None
        assert "medical_out_of_pocket_yuan" not in state.answers
        assert msgids(sprint) == ["confirm.again", "apply.medical_cost", "hint.yuan"]


def test_a_new_number_instead_of_yes_or_no_is_the_answer() -> None:
    state, _ = run([*MEDICAL, Input(text="四万多"), Input(text="42000")])
    assert state.answers["medical_out_of_pocket_yuan"] == 42000
    state, sprint = run([*MEDICAL, Input(text="四万多"), Input(text="差不多五万")])
    assert state.pending is not None and shown(sprint) == "大约 50,000 元，对吗？"


def test_a_monthly_amount_becomes_a_year_once_confirmed() -> None:
    state, sprint = run([*INCOME, Input(text="一个月500")])
    assert shown(sprint) == "每月 500 元，一年算下来大约 6,000 元，对吗？"
    assert "500 yuan a month makes about 6,000 yuan a year" in shown(sprint, "en")
    state, _ = run([*INCOME, Input(text="一个月500"), Input(text="对")])
    assert state.answers["annual_income_yuan"] == 6000
    _, sprint = run([*INCOME, Input(text="10000"), Input(text="12000"), Input(text="一个月还500")])
    assert msgids(sprint)[0] == "error.total_needed"  # debts are a total, not a flow


def test_a_tiny_yearly_amount_is_asked_back_as_wan() -> None:
    state, sprint = run([*INCOME, Input(text="2.5")])
    assert shown(sprint) == "是 2.5 万元吗？"
    state, _ = run([*INCOME, Input(text="2.5"), Input(data="income:ok")])
    assert state.answers["annual_income_yuan"] == 25000
    state, sprint = run([*INCOME, Input(text="2.5"), Input(text="不对")])
    assert "如果就是 2.5 元，请写“2.5元”" in shown(sprint)
    state, _ = run([*INCOME, Input(text="2.5"), Input(text="不对"), Input(text="2.5元")])
    assert state.answers["annual_income_yuan"] == 2.5
    state, _ = run([*INCOME, Input(text="0")])
    assert state.answers["annual_income_yuan"] == 0  # no income at all is plausible


def test_back_or_an_old_button_while_confirming_is_handled_kindly() -> None:
    state, sprint = run([*MEDICAL, Input(text="四万多"), Input(text="返回")])
    assert (state.step, state.pending) == ("medical_cost", None)
    assert msgids(sprint) == ["apply.medical_cost", "hint.yuan"]
    state, sprint = run([*MEDICAL, Input(text="四万多"), Input(text="帮助")])
    assert state.pending is not None and msgids(sprint) == ["help.medical_cost", "confirm.approx"]
    steps = [*MEDICAL, Input(text="四万多"), Input(data="medical_cost:ok")]
    state, sprint = run([*steps, Input(data="disaster:no"), Input(data="medical_cost:ok")])
    assert state.step == "accident" and msgids(sprint)[0] == "error.stale_button"
    state, sprint = run([*MEDICAL, Input(data="medical_cost:ok")])
    assert msgids(sprint)[0] == "error.stale_button"


def test_a_guess_outside_the_bounds_is_refused_not_confirmed() -> None:
    state, sprint = run([*JOB, Input(text="大概700个月")])
    assert state.pending is None and msgids(sprint)[0] == "error.range"


def test_a_pending_guess_survives_the_json_round_trip_and_a_call_back() -> None:
    state, _ = run([*MEDICAL, Input(text="四万多")])
    assert Session.from_json(json.loads(json.dumps(state.to_json()))) == state
    state, _ = run([*MEDICAL, Input(text="四万多"), Input(text="转人工")])
    assert (state.dialog, state.pending) == ("callback", None)
    steps = [*MEDICAL, Input(text="四万多"), Input(text="转人工")]
    state, _ = run([*steps, Input(text="13812345678"), Input(data="note:skip")])
    assert (state.dialog, state.step, state.pending) == ("self_application", "medical_cost", None)


def test_a_steps_own_answer_wins_over_a_command_with_the_same_word() -> None:
    proxy = [Input(data="choose:apply"), Input(data="for_whom:proxy")]
    state, _ = run([*proxy, Input(text="村干部")])
    assert state.answers["proxy_relation"] == "cadre"
    state, _ = run([*proxy, Input(text="我要找村干部")])
    assert state.dialog == "callback"
    state, _ = run([*APPLY, Input(text="村干部")])
    assert state.dialog == "callback"  # no cadre button here: the person asks for one


def test_a_yes_no_word_or_one_character_is_not_taken_as_a_name() -> None:
    for typed in ("是", "好的", "没有", "不知道"):
        state, sprint = run([*HEAD_NAME, Input(text=typed)])
        assert "head_name" not in state.answers, typed
        assert msgids(sprint)[:2] == ["error.name_word", "apply.head_name"]
    _, sprint = run([*HEAD_NAME, Input(text="好的")])
    assert "“好的”不像是姓名" in shown(sprint)
    assert '"好的" does not look like a name' in shown(sprint, "en")
    proxy = [Input(data="choose:apply"), Input(data="for_whom:proxy")]
    proxy += [Input(data="proxy_relation:child"), Input(data="proxy_reason:ill")]
    state, sprint = run([*proxy, Input(text="李")])
    assert state.step == "proxy_name" and msgids(sprint)[0] == "error.length"


def test_bounds_come_from_the_documented_answers() -> None:
    from intake.answers import MAX_AMOUNT_YUAN, MAX_HOUSEHOLD_SIZE, MAX_MONTHS

    steps = {s.id: s for s in DIALOGS["self_application"].steps}
    assert steps["size"].maximum == MAX_HOUSEHOLD_SIZE
    assert steps["job_months"].maximum == MAX_MONTHS
    assert steps["income"].maximum == MAX_AMOUNT_YUAN
    assert steps["disaster_ratio"].maximum * steps["disaster_ratio"].scale == 1


def test_a_session_at_a_step_that_no_longer_exists_starts_at_the_menu() -> None:
    gone = Session(dialog="self_application", step="gone", updated_at=NOW.isoformat())
    for given_input in (Input(text="帮助"), Input(text="3"), Input(data="g:back")):
        sprint = ENGINE.resume(gone, given_input, context())
        assert (sprint.session.dialog, sprint.session.step) == ("menu", "choose")
    stray = Session(
        dialog="self_application",
        step="income",
        pending={"step": "debts", "ask": "confirm.approx", "typed": "3", "value": "3"},
        updated_at=NOW.isoformat(),
    )
    sprint = ENGINE.resume(stray, Input(text="对"), context())
    assert sprint.session.pending is None and "annual_income_yuan" not in sprint.session.answers


# --- never lose a villager's work (issue 10) ---------------------------------------------

#: An application that passes every step: a proxy, two townships, every follow-up asked,
#: then the summary and its edit list.
EVERY_STEP = [
    Input(data=d)
    for d in (
        "choose:apply",
        "for_whom:proxy",
        "proxy_relation:child",
        "proxy_reason:ill",
    )
] + [
    Input(text="王小明"),
    *(Input(data=d) for d in ("township:t-1", "village:v-a", "illness:yes")),
    Input(text="40000"),
    Input(data="disaster:yes"),
    Input(data="disaster_ratio:50"),
    Input(text="20000"),
    *(Input(data=d) for d in ("accident:no", "house:yes", "rebuild:no", "school:yes")),
    Input(text="8000"),
    Input(data="job:yes"),
    Input(text="5"),
    *(Input(data=d) for d in ("business:no", "size:3")),
    Input(text="10000"),
    Input(text="12000"),
    Input(data="debts:0"),
    *(
        Input(data=f"{s}:no")
        for s in ("neg_house", "neg_car", "neg_job", "neg_business", "neg_pension", "neg_conduct")
    ),
    Input(text="王五"),
    Input(text="421223195803151230"),
    Input(text="13812345678"),
    Input(data="consent:agree"),
    Input(data="summary:edit"),
]


def _states_at_every_step() -> list[tuple[int, Session]]:
    state = ENGINE.resume(None, Input(start=True), context()).session
    found = []
    for number, given_input in enumerate(EVERY_STEP):
        state = ENGINE.resume(state, given_input, context()).session
        found.append((number, state))
    return found


def test_the_walk_reaches_every_step_of_the_application() -> None:
    reached = {s.step for _, s in _states_at_every_step() if s.dialog == "self_application"}
    assert reached == {step.id for step in STEPS}


@pytest.mark.parametrize("step", [s.id for s in STEPS], ids=[s.id for s in STEPS])
def test_human_at_every_step_calls_back_then_resumes_there(step: str) -> None:
    at = next(s for _, s in _states_at_every_step() if s.step == step)
    sprint = ENGINE.resume(at, Input(text="转人工"), context())
    assert (sprint.session.dialog, sprint.session.step) == ("callback", "phone")
    sprint = ENGINE.resume(sprint.session, Input(text="13812345678"), context())
    sprint = ENGINE.resume(sprint.session, Input(text="不用了"), context())
    assert [e.name for e in effects(sprint)] == ["callback_requested"]
    back = sprint.session
    assert (back.dialog, back.step) == ("self_application", step)
    assert back.answers == at.answers and back.history == at.history
    assert replies(sprint)[-1].parts[0].msgid == DIALOGS["self_application"].step(step).prompt  # type: ignore[union-attr]


HALFWAY = [*APPLY, Input(data="township:t-1"), Input(data="village:v-a"), Input(data="illness:no")]


def test_start_halfway_offers_to_continue_or_start_over() -> None:
    state, _ = run(HALFWAY)
    sprint = ENGINE.resume(state, Input(start=True), context())
    assert (sprint.session.dialog, sprint.session.step) == ("menu", "offer")
    assert last_buttons(sprint) == ["offer:continue", "offer:restart", "offer:other"]
    resumed = ENGINE.resume(sprint.session, Input(data="offer:continue"), context()).session
    assert (resumed.dialog, resumed.step) == ("self_application", "disaster")
    assert resumed.answers == state.answers and resumed.history == state.history
    again = ENGINE.resume(sprint.session, Input(text="重新开始"), context()).session
    assert (again.dialog, again.step, again.answers) == ("self_application", "for_whom", {})


def test_an_idle_timeout_halfway_offers_the_application_back() -> None:
    state, _ = run(HALFWAY)
    later = context(now=NOW + timedelta(days=4))
    sprint = ENGINE.resume(state, Input(text="否"), later)
    assert msgids(sprint) == ["session.expired_kept", "menu.unfinished"]
    assert "has_disaster" not in sprint.session.answers["unfinished"]["answers"]  # not answered
    kept = Session.from_json(json.loads(json.dumps(sprint.session.to_json())))
    resumed = ENGINE.resume(kept, Input(text="继续上次的申请"), later).session
    assert (resumed.dialog, resumed.step) == ("self_application", "disaster")


def test_start_while_asking_for_a_call_back_offers_the_application_under_it() -> None:
    state, _ = run([*HALFWAY, Input(text="转人工")])
    assert state.dialog == "callback"
    sprint = ENGINE.resume(state, Input(start=True), context())
    assert sprint.session.step == "offer" and sprint.session.stack == []
    again = ENGINE.resume(sprint.session, Input(start=True), context())
    assert again.session.answers == sprint.session.answers  # a second /start keeps it too


def first_words(text: str) -> Sprint:
    return ENGINE.resume(None, Input(text=text), context())


def test_first_words_the_menu_understands_are_acted_on_after_the_welcome() -> None:
    sprint = first_words("我的编号是ABCD-234G")
    assert replies(sprint)[0].parts[0].msgid == "welcome"  # type: ignore[union-attr]
    assert [(e.name, dict(e.data)) for e in effects(sprint)] == [
        ("status_requested", {"code": "ABCD-234G"})
    ]
    sprint = first_words("我要投诉")
    assert sprint.session.dialog == "report"
    sprint = first_words("申请防返贫监测")
    assert sprint.session.dialog == "self_application"
    assert replies(sprint)[0].parts[0].msgid == "welcome"  # type: ignore[union-attr]


def test_a_mistyped_code_as_first_words_is_explained_then_the_menu() -> None:
    sprint = first_words("F57C-NP95")
    msgids = [r.parts[0].msgid for r in replies(sprint)]  # type: ignore[union-attr]
    assert msgids == ["welcome", "error.tracking_code.check", "menu.prompt"]
    assert not effects(sprint)


def test_first_words_the_menu_does_not_understand_get_the_menu_without_a_complaint() -> None:
    for text in ("你好", "？？？", "x" * 500, "1", "#2"):
        sprint = first_words(text)
        assert sprint.session.dialog == "menu"
        msgids = [r.parts[0].msgid for r in replies(sprint)]  # type: ignore[union-attr]
        assert msgids == ["welcome", "menu.prompt"], text


def test_menu_keeps_the_application_on_top_and_apply_asks_first() -> None:
    state, sprint = run([*HALFWAY, Input(text="菜单")])
    assert (state.dialog, state.step) == ("menu", "choose")
    assert last_buttons(sprint)[0] == "choose:resume"
    for away in ("choose:status", "choose:mine", "choose:language"):
        elsewhere = ENGINE.resume(state, Input(data=away), context()).session
        left = ENGINE.resume(elsewhere, Input(data="g:back"), context()).session
        assert left.answers["unfinished"] == state.answers["unfinished"], away  # still kept
    sprint = ENGINE.resume(state, Input(data="choose:apply"), context())
    assert sprint.session.step == "offer"
    resumed = ENGINE.resume(state, Input(data="choose:resume"), context()).session
    assert (resumed.dialog, resumed.step) == ("self_application", "disaster")


def test_back_out_of_a_resumed_draft_keeps_it() -> None:
    draft = {"for_whom": "self", "village": "v-a", "has_illness": False}
    state, _ = run([Input(data="choose:resume"), Input(data="g:back")], context(draft=draft))
    assert (state.dialog, state.step) == ("menu", "choose")
    assert state.answers["unfinished"]["step"] == "consent"


def test_only_restart_in_words_or_the_first_question_lets_it_go() -> None:
    state, sprint = run([*HALFWAY, Input(text="重新开始")])
    assert msgids(sprint)[0] == "restart.done" and state.answers == {}
    state, _ = run([Input(data="choose:apply"), Input(start=True)])
    assert (state.step, state.answers) == ("choose", {})  # nothing answered, nothing to offer


def test_last_year_is_named_by_beijing_calendar() -> None:
    new_year_in_beijing = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    for now, said in ((new_year_in_beijing, "去年（2026年）"), (NOW, "去年（2025年）")):
        state = Session(dialog="self_application", step="income", updated_at=now.isoformat())
        sprint = ENGINE.resume(state, Input(text="10000"), context(now=now))
        assert shown(sprint).startswith(f"{said}一整年")
    assert "Last year (2025)" in shown(sprint, "en")


def test_my_applications_typed_anywhere_lists_them_and_asks_again() -> None:
    state, _ = run(HALFWAY)
    sprint = ENGINE.resume(state, Input(text="我的申请呢"), context())
    assert [e.name for e in effects(sprint)] == ["applications_listed"]
    assert (sprint.session.dialog, sprint.session.step) == ("self_application", "disaster")
    assert sprint.session.answers == state.answers
    menu, _ = run([])
    sprint = ENGINE.resume(menu, Input(data="g:mine"), context())
    assert [e.name for e in effects(sprint)] == ["applications_listed"]
    assert sprint.session.step == "choose"
