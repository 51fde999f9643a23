"""Tests for intake.identity: ID numbers, phone numbers, masking and log redaction."""

from __future__ import annotations

import io
import logging
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.identity import (
    IdProblem,
    RedactingFilter,
    id_check_digit,
    mask_id_number,
    mask_phone,
    normalize_id_number,
    normalize_phone,
    redact,
    validate_id_number,
)

TODAY = date(2025, 6, 1)
# The two examples printed in GB 11643-1999, and numbers made for these tests.
STANDARD_EXAMPLE = "11010519491231002X"
VALID = "420102199001011236"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("420102199001011236", "420102199001011236"),
        (" 420102 19900101 1236 ", "420102199001011236"),
        ("420102-19900101-1236", "420102199001011236"),
        ("４２０１０２１９９００１０１１２３６", "420102199001011236"),
        ("11010519491231002x", STANDARD_EXAMPLE),
        ("11010519491231002Ｘ", STANDARD_EXAMPLE),
        ("11010519491231002ｘ", STANDARD_EXAMPLE),
        ("110105\u300019491231002X", STANDARD_EXAMPLE),
    ],
)
def test_normalize_id_number(raw: str, expected: str) -> None:
    assert normalize_id_number(raw) == expected


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010519491231002", "X"),  # GB 11643-1999 example
        ("44052418800101001", "4"),  # GB 11643-1999 example
        ("42010219900101123", "6"),
        ("42010230000101123", "X"),
    ],
)
def test_id_check_digit(first17: str, check: str) -> None:
    assert id_check_digit(first17) == check


@pytest.mark.parametrize("bad", ["", "1234", "110105194912310021", "11010519491231OO2", "1" * 16])
def test_id_check_digit_needs_17_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        id_check_digit(bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (VALID, VALID),
        (STANDARD_EXAMPLE, STANDARD_EXAMPLE),
        ("11010519491231002x", STANDARD_EXAMPLE),
        ("４２０１０２ １９９００１０１ １２３６", VALID),
        ("110105200002290013", "110105200002290013"),  # 29 February in a leap year
        ("630102198511200015", "630102198511200015"),
        ("", IdProblem.LENGTH),
        ("42010219900101123", IdProblem.LENGTH),
        ("4201021990010112366", IdProblem.LENGTH),
        ("420102900101123", IdProblem.LENGTH),  # first-generation 15-digit number
        ("42010219900101123A", IdProblem.CHARACTERS),
        ("X20102199001011236", IdProblem.CHARACTERS),
        ("42010219900101l236", IdProblem.CHARACTERS),
        ("４２０１０２１９９００１０１１２３٦", IdProblem.CHARACTERS),  # Arabic-Indic six
        ("910102199001011232", IdProblem.REGION),  # right check digit, no province 91
        ("440524188001010014", IdProblem.BIRTH_DATE),  # GB example, born 1880
        ("420102199002301235", IdProblem.BIRTH_DATE),  # 30 February
        ("42010230000101123X", IdProblem.BIRTH_DATE),  # born in 3000
        ("420102199001011237", IdProblem.CHECK_DIGIT),
        ("11010519491231002 1", IdProblem.CHECK_DIGIT),
    ],
)
def test_validate_id_number(raw: str, expected: str | IdProblem) -> None:
    result = validate_id_number(raw, today=TODAY)
    assert result == expected
    assert isinstance(result, IdProblem) == isinstance(expected, IdProblem)


def test_birth_date_today_is_accepted_and_tomorrow_is_not() -> None:
    born_today = "53012320250601001"
    born_tomorrow = "53012320250602001"
    assert validate_id_number(born_today + id_check_digit(born_today), today=TODAY) != (
        IdProblem.BIRTH_DATE
    )
    assert (
        validate_id_number(born_tomorrow + id_check_digit(born_tomorrow), today=TODAY)
        == IdProblem.BIRTH_DATE
    )


def test_validate_defaults_today_to_now() -> None:
    assert validate_id_number(VALID) == VALID
    far_future = "42010230000101123X"
    assert validate_id_number(far_future) == IdProblem.BIRTH_DATE


def test_id_problem_is_a_string_for_json_sessions() -> None:
    assert IdProblem("check_digit") is IdProblem.CHECK_DIGIT
    assert {str(problem) for problem in IdProblem} == {
        "length",
        "characters",
        "region",
        "birth_date",
        "check_digit",
    }


_seventeen_digits = st.builds(
    lambda region, rest: region + rest,
    st.sampled_from(["11", "42", "53", "65"]),
    st.from_regex(
        r"[0-9]{4}(19[0-9]{2}|20[01][0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}",
        fullmatch=True,
    ),
)


@given(_seventeen_digits, st.integers(0, 17), st.integers(1, 10))
def test_any_single_character_change_is_refused(first17: str, position: int, shift: int) -> None:
    number = first17 + id_check_digit(first17)
    assert validate_id_number(number, today=TODAY) == number
    alphabet = "0123456789X" if position == 17 else "0123456789"
    changed = alphabet[(alphabet.index(number[position]) + shift) % len(alphabet)]
    if changed == number[position]:
        return
    typo = number[:position] + changed + number[position + 1 :]
    assert validate_id_number(typo, today=TODAY) != number
    assert isinstance(validate_id_number(typo, today=TODAY), IdProblem)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (VALID, "420***********1236"),
        (STANDARD_EXAMPLE, "110***********002X"),
        ("11010519491231002x", "110***********002X"),
        ("not an id", "*********"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_id_number(value: str, masked: str) -> None:
    assert mask_id_number(value) == masked


@given(st.text())
def test_masking_never_raises(text: str) -> None:
    assert isinstance(mask_id_number(text), str)
    assert isinstance(mask_phone(text), str)
    assert isinstance(redact(text), str)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("19912345678", "19912345678"),
        ("0715-3811061", "0715-3811061"),
        ("07153811061", "0715-3811061"),
        ("(0715) 381 1061", "0715-3811061"),
        ("（０７１５）３８１１０６１", "0715-3811061"),
        ("+86 715 3811061", "0715-3811061"),
        ("010-62345678", "010-62345678"),
        ("01062345678", "010-62345678"),
        ("027 87654321", "027-87654321"),
        ("0871-65432109", "0871-65432109"),
        ("12812345678", None),  # no mobile network starts 12
        ("1381234567", None),
        ("138123456789", None),
        ("0715-381106", None),
        ("010-12345678", None),  # subscriber numbers do not start with 1
        ("tel 13812345678", None),
        ("", None),
    ],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("0715-3811061", "0715-***1061"),
        ("010-62345678", "010-****5678"),
        ("hello", "*****"),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证号420102199001011236，请核实", "身份证号420***********1236，请核实"),
        ("id 420102 19900101 1236 ok", "id 420***********1236 ok"),
        ("id 4201 0219 9001 0123 7X", "id 420***********237X"),  # wrong check digit: still PII
        ("id ４２０１０２１９９００１０１１２３６", "id 420***********1236"),
        ("电话13812345678。", "电话138****5678。"),
        ("call +86 138-1234-5678 now", "call 138****5678 now"),
        ("座机 0715-3811061 或 (010)62345678", "座机 0715-***1061 或 010-****5678"),
        ("a 13812345678 and 13987654321", "a 138****5678 and 139****4321"),
        (
            "report 42 escalated at 2025-01-28 13:45:00",
            "report 42 escalated at 2025-01-28 13:45:00",
        ),
        ("chat -1001234567890 sent", "chat -1001234567890 sent"),
        ("card 6222021234567890123", "card 6222021234567890123"),  # a longer run is not an ID
        ("code K7QX-M4HD", "code K7QX-M4HD"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_is_idempotent() -> None:
    once = redact("420102199001011236 13812345678 0715-3811061")
    assert redact(once) == once


@given(
    _seventeen_digits,
    st.text(alphabet="ab 。，", max_size=5),
    st.text(alphabet="ab 。", max_size=5),
)
def test_redact_removes_every_id_number(first17: str, before: str, after: str) -> None:
    number = first17 + id_check_digit(first17)
    redacted = redact(before + number + after)
    assert number not in redacted
    assert number[3:14] not in redacted


def _logger_with_stream() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.identity.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_redacting_filter_masks_formatted_messages() -> None:
    logger, stream = _logger_with_stream()
    logger.info("household %s phone %s", "420102199001011236", "13812345678")
    logger.warning("plain 0715-3811061, %d%% sure", 100)
    logger.warning("no args, 13987654321 is 50% masked")
    output = stream.getvalue()
    assert "420102199001011236" not in output
    assert "13812345678" not in output
    assert "3811061" not in output
    assert "INFO household 420***********1236 phone 138****5678" in output
    assert "WARNING plain 0715-***1061, 100% sure" in output
    assert "WARNING no args, 139****4321 is 50% masked" in output


def test_redacting_filter_masks_tracebacks() -> None:
    logger, stream = _logger_with_stream()
    try:
        raise ValueError("bad id 420102199001011236")
    except ValueError:
        logger.exception("lookup failed for %s", "13812345678")
    output = stream.getvalue()
    assert "420102199001011236" not in output
    assert "13812345678" not in output
    assert "ValueError: bad id 420***********1236" in output


def test_redacting_filter_survives_bad_format_arguments() -> None:
    logger, stream = _logger_with_stream()
    logger.info("two %s %s", "13812345678")
    assert "13812345678" not in stream.getvalue()
    assert "138****5678" in stream.getvalue()


def test_redacting_filter_with_caplog(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.identity.caplog")
    with caplog.at_level(logging.INFO, logger="tests.identity.caplog"):
        logger.info("applicant %s", "11010519491231002X")
    assert caplog.messages == ["applicant 110***********002X"]
    assert "11010519491231002X" not in caplog.text
