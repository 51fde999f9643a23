"""What a WeChat API answer means for the message: sent, fall back, retry, or give up.

The dispatcher's outcomes (:mod:`notifications.sender`) plus one WeChat adds:
:class:`NotDeliverable`. Customer-service messages reach a person only within 48 hours of
their last message to us (45015), and only a few times before they write again (45047);
past that, the same text must go as a template message or an SMS.

=====================================  =======================================================
0                                      delivered
40001, 42001, 40014 (token refused)    refresh the token once and repeat; then retry later
45015, 45047                           not deliverable by customer service: fall back
43004, 43101, 40003                    stopped: not following, refused, or not our openid
45009 (daily quota), 45011, -1 (busy)  retry later (45009: the whole channel, for an hour)
40013, 40125, 40164 (our credentials)  retry later, the whole channel paused (fix settings)
HTTP 5xx, no connection                retry later: WeChat did nothing
read timeout, connection lost mid-way  uncertain: it may have arrived; never repeated
anything else                          failed, with WeChat's code and message
=====================================  =======================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from notifications.sender import Delivered, Failed, RetryLater, Stopped, Uncertain

TOKEN_REFUSED = frozenset({40001, 42001, 40014})
WINDOW_CLOSED = 45015
CS_LIMIT = 45047
NOT_FOLLOWING = frozenset({43004, 43101, 40003})
BUSY = -1
DAILY_QUOTA = 45009
MINUTE_QUOTA = 45011
CREDENTIALS = frozenset({40013, 40125, 40164, 41002, 41004})
#: Seconds the channel waits when WeChat refuses our credentials or every fresh token.
CONFIG_PAUSE = 60.0


@dataclass(frozen=True)
class NotDeliverable:
    """Customer service cannot reach this person now; send a template message or an SMS."""

    reason: str
    errcode: int


SendOutcome = Delivered | NotDeliverable | RetryLater | Stopped | Failed | Uncertain


class WeChatError(Exception):
    """A call that did not succeed, with the outcome a sender would report for it.

    ``errcode`` is WeChat's (``None`` for HTTP or network trouble). The message never holds
    the access token, the app secret or a request URL.
    """

    def __init__(self, outcome: SendOutcome, errcode: int | None = None) -> None:
        super().__init__(getattr(outcome, "reason", "ok"))
        self.outcome = outcome
        self.errcode = errcode


def outcome_for(errcode: int, errmsg: str) -> SendOutcome:
    """The outcome of an answer carrying ``errcode`` (after any token refresh was tried)."""
    reason = f"wechat {errcode}: {errmsg[:120]}"
    if errcode == 0:
        return Delivered()
    if errcode in (WINDOW_CLOSED, CS_LIMIT):
        return NotDeliverable(reason, errcode)
    if errcode in NOT_FOLLOWING:
        return Stopped(reason)
    if errcode == DAILY_QUOTA:
        return RetryLater(reason, after=3600.0, flood=True)
    if errcode == MINUTE_QUOTA:
        return RetryLater(reason, after=60.0, flood=True)
    if errcode == BUSY:
        return RetryLater(reason, after=5.0)
    if errcode in TOKEN_REFUSED or errcode in CREDENTIALS:
        return RetryLater(reason, after=CONFIG_PAUSE, flood=True)
    return Failed(reason)
