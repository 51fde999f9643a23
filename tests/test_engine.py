"""The pure dialog engine: commands, stale buttons, editing, expiry — and no input crashes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogs import DIALOGS
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
        else:
            given_input = Input(data=str(value))
        sprint = ENGINE.resume(sprint.session, given_input, context(now=now))
        assert replies(sprint), "every input gets an answer"
        for reply in replies(sprint):
            for locale in LOCALES:
                render(reply, locale)
            assert all(len(b.data.encode()) <= 64 for b in reply.buttons)
        assert Session.from_json(json.loads(json.dumps(sprint.session.to_json()))) is not None
