"""Reading an untrusted JSON body within limits, so that no body can become a 500.

``json.loads`` trusts its input: a 5,000-digit number raises ``ValueError`` from ``int``
(not ``JSONDecodeError``), a few thousand ``[`` raise ``RecursionError``, ``1e999`` and
``NaN`` become floats no column takes, ``"\\ud800"`` becomes a lone surrogate that cannot
be encoded (nor encrypted, nor stored), an integer past 64 bits overflows SQLite, and
PostgreSQL refuses a NUL in text. :func:`loads` refuses all of these with one exception,
:class:`JsonRejected`, whose ``reason`` is a fixed word - safe to log and to show, because
it never carries the body (bodies carry ID and phone numbers).

Every route that takes JSON from outside reads its body with :func:`read_body` (a size
limit) and parses it here, and answers a rejection with a 400: the JSON webhook and
Telegram's webhook (a polled Telegram update goes through :func:`check`). It lives in the
lowest layer so that ``notifications`` routes (an SMS gateway's pushes) can use it too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "JsonLimits",
    "JsonRejected",
    "check",
    "loads",
    "read_body",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: A string, or a bracket outside one: enough to measure nesting without parsing.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
#: A lone surrogate (a valid pair is decoded into one character) or a NUL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class JsonLimits:
    """How deep, how long and how large a body's values may be.

    The defaults are far beyond anything Telegram or an integrator sends (Telegram nests
    about 6 deep; its texts are at most 4,096 characters; its ids fit in 64 bits).
    """

    max_depth: int = 32
    #: Characters of one number as written (sign, digits, point, exponent).
    max_number_chars: int = 32
    max_string_chars: int = 16_384


DEFAULT_LIMITS = JsonLimits()


class JsonRejected(ValueError):
    """The body is not JSON this service accepts; ``reason`` names why, in one word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or ``None`` past ``limit`` bytes (read no further than that).

    A declared ``Content-Length`` over the limit is refused before reading; a body sent
    without one is counted as it streams in. A sender that hung up gets ``b""``: there is
    no one left to answer, and an empty body is refused by every route.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                return None
    except ClientDisconnect:
        return b""
    return bytes(body)


def loads(body: bytes, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """The JSON value in ``body`` (UTF-8), or :class:`JsonRejected`.

    Nesting is measured before parsing (so no recursion can run away); numbers are checked
    as the parser meets them; strings once the value is built.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRejected("encoding") from None
    _check_depth(text, limits.max_depth)
    try:
        value = json.loads(
            text,
            parse_int=lambda raw: _integer(raw, limits),
            parse_float=lambda raw: _fraction(raw, limits),
            parse_constant=_constant,
        )
    except JsonRejected:
        raise
    except (ValueError, RecursionError):
        raise JsonRejected("syntax") from None
    check(value, limits)
    return value


def check(value: Any, limits: JsonLimits = DEFAULT_LIMITS) -> None:
    """Refuse a parsed value that breaks ``limits`` (for JSON another library parsed)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.max_depth:
            raise JsonRejected("depth")
        if isinstance(item, str):
            _string(item, limits)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            _in_int64(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise JsonRejected("number")
        elif isinstance(item, dict):
            for key, inner in item.items():
                _string(str(key), limits)
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
        else:
            raise JsonRejected("type")


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for token in _TOKENS.finditer(text):
        found = token.group()
        if found in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise JsonRejected("depth")
        elif found in ("]", "}"):
            depth -= 1


def _integer(raw: str, limits: JsonLimits) -> int:
    if len(raw) > limits.max_number_chars:
        raise JsonRejected("number")
    number = int(raw)
    _in_int64(number)
    return number


def _in_int64(number: int) -> None:
    if not INT64_MIN <= number <= INT64_MAX:
        raise JsonRejected("number")


def _fraction(raw: str, limits: JsonLimits) -> float:
    if len(raw) > limits.max_number_chars:
        raise JsonRejected("number")
    number = float(raw)
    if not math.isfinite(number):  # 1e999
        raise JsonRejected("number")
    return number


def _constant(_raw: str) -> float:
    raise JsonRejected("number")  # NaN, Infinity, -Infinity: not JSON, no column takes them


def _string(text: str, limits: JsonLimits) -> None:
    if len(text) > limits.max_string_chars:
        raise JsonRejected("string")
    if _UNSTORABLE.search(text):
        raise JsonRejected("character")
