"""Tests for intake.tracking: tracking codes read aloud over the phone."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.tracking import (
    ALPHABET,
    LOOK_ALIKES,
    CodeProblem,
    looks_like_tracking_code,
    new_tracking_code,
    normalize_tracking_code,
    tracking_code_problem,
)
from locales import LOCALES, catalog

CODE_SHAPE = re.compile(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")


def _code_from_seed(seed: int) -> str:
    return new_tracking_code(random.Random(seed))


CODE = _code_from_seed(2025)


def test_alphabet_leaves_out_look_alikes() -> None:
    assert len(ALPHABET) == 29
    assert len(set(ALPHABET)) == 29
    assert not set("01OILUZ") & set(ALPHABET)
    assert ALPHABET.isupper() and ALPHABET.isascii()


def test_seeded_generation_is_deterministic() -> None:
    assert _code_from_seed(7) == _code_from_seed(7)
    assert _code_from_seed(7) != _code_from_seed(8)
    assert CODE_SHAPE.fullmatch(_code_from_seed(7))


def test_random_codes_have_the_shape_and_are_valid() -> None:
    codes = {new_tracking_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert CODE_SHAPE.fullmatch(code)
        assert normalize_tracking_code(code) == code


@given(st.integers())
def test_every_generated_code_validates(seed: int) -> None:
    code = new_tracking_code(random.Random(seed))
    assert normalize_tracking_code(code) == code
    assert looks_like_tracking_code(code)


@pytest.mark.parametrize(
    "variant",
    [
        CODE,
        CODE.lower(),
        CODE.replace("-", ""),
        CODE.replace("-", " "),
        f"  {CODE[:2]}-{CODE[2:4]}--{CODE[5:]} ",
        " ".join(CODE.replace("-", "")),
        CODE.replace("-", "－"),
        "".join(chr(ord(ch) + 0xFEE0) for ch in CODE),  # full-width
    ],
)
def test_normalize_accepts_spoken_and_typed_variants(variant: str) -> None:
    assert normalize_tracking_code(variant) == CODE


@pytest.mark.parametrize(
    "raw",
    ["", "ABCD", "ABCD-2345-6", "ABCD-234", "ABC#-2345", "ABCD_2345", "报告ABCD-2345"],
)
def test_normalize_refuses_other_shapes(raw: str) -> None:
    assert normalize_tracking_code(raw) is None
    assert not looks_like_tracking_code(raw)


@pytest.mark.parametrize("look_alike", list("01OILUZ"))
def test_look_alikes_are_refused_not_guessed(look_alike: str) -> None:
    raw = look_alike + CODE[1:]
    assert normalize_tracking_code(raw) is None
    assert normalize_tracking_code(raw.lower()) is None
    assert not looks_like_tracking_code(raw)


def test_every_single_typo_is_caught() -> None:
    symbols = CODE.replace("-", "")
    for position in range(len(symbols)):
        for replacement in ALPHABET:
            if replacement == symbols[position]:
                continue
            typo = symbols[:position] + replacement + symbols[position + 1 :]
            assert normalize_tracking_code(typo) is None, typo
            assert looks_like_tracking_code(typo)


@given(st.integers(), st.integers(0, 7), st.integers(0, 7))
def test_every_swap_of_two_different_symbols_is_caught(seed: int, i: int, j: int) -> None:
    symbols = new_tracking_code(random.Random(seed)).replace("-", "")
    if symbols[i] == symbols[j]:
        return
    swapped = list(symbols)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert normalize_tracking_code("".join(swapped)) is None


def test_check_symbol_by_hand() -> None:
    # Weighted sum 1*v1 + 2*v2 + ... + 8*v8 must be divisible by 29.
    # "2222222" has all values 0, so the check symbol has value 0 too: "2".
    assert normalize_tracking_code("2222-2222") == "2222-2222"
    # "3222222": 1*1 = 1, so 8*c = -1 (mod 29) -> c = 18 (8*18 = 144 = 5*29 - 1) -> "M".
    assert ALPHABET[18] == "M"
    assert normalize_tracking_code("3222222M") == "3222-222M"
    assert normalize_tracking_code("3222222N") is None


def test_a_valid_code_has_no_problem() -> None:
    assert tracking_code_problem(CODE) is None
    assert tracking_code_problem(CODE.lower().replace("-", " ")) is None


@pytest.mark.parametrize("raw", ["F57C-NP95", "ABCD-2345", "abcd 2345"])
def test_a_wrong_check_symbol_is_told_apart_from_a_wrong_shape(raw: str) -> None:
    # 8 symbols of the alphabet: one was misread or mistyped, not "must be 8 characters".
    assert tracking_code_problem(raw) == (CodeProblem.CHECK, raw.upper().replace(" ", "-"))


def test_one_wrong_character_of_a_real_code_is_a_check_problem() -> None:
    real = new_tracking_code(random.Random(57))
    wrong = real[:-1] + next(s for s in ALPHABET if s != real[-1])
    assert tracking_code_problem(wrong) == (CodeProblem.CHECK, wrong)


@pytest.mark.parametrize(("raw", "typed"), [("F57C-NP9O", "F57CNP9O"), ("abcd-l34g", "ABCDL34G")])
def test_look_alikes_are_named_as_such(raw: str, typed: str) -> None:
    assert tracking_code_problem(raw) == (CodeProblem.LOOK_ALIKE, typed)


@pytest.mark.parametrize("raw", ["", "ABCD", "ABCD-234G-2", "ABC#-2345", "报告ABCD-2345"])
def test_other_text_is_a_shape_problem(raw: str) -> None:
    found = tracking_code_problem(raw)
    assert found is not None and found[0] is CodeProblem.SHAPE


def test_every_look_alike_points_to_symbols_of_the_alphabet() -> None:
    assert set(LOOK_ALIKES) == set("01OILUZ")
    for meant in LOOK_ALIKES.values():
        assert set(meant) <= set(ALPHABET)


_CODE_IN_TEXT = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}\b")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_example_code_the_bot_shows_is_a_valid_code(locale: str) -> None:
    shown = [
        (msgid, code)
        for msgid, text in catalog(locale).items()
        for code in _CODE_IN_TEXT.findall(text)
    ]
    assert shown, "the catalogs show an example code"
    for msgid, code in shown:
        assert normalize_tracking_code(code) == code, f"{msgid}: {code} is not a valid code"
