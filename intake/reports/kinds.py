"""Report kinds as policy data: what each kind asks, where it goes and how long it may take.

The ``reports:`` section of a policy file (``intake/policies/<region>.yaml``) is carried by
:class:`intake.policy.Policy` as an opaque mapping; this module validates it, so the
capability that uses the data owns its shape. Five kinds, from seed 000 四(一) (mailbox,
village phone, township hotline) and 附件2 item 7 (the public may report a household that
should not be monitored): 线索 ``tip``, 举报 ``report``, 投诉 ``complaint``, 咨询
``inquiry``, 建议 ``suggestion``.

The one rule no policy file may break is checked here, at load: a report about someone is
never routed to that someone's own level. A complaint about a village cadre or the village
committee must go to the township or higher, one about the township to the county, so a
file that says otherwise is refused, naming the key.

Example::

    >>> from intake.policy import default_policy_path, load_policy
    >>> rules = report_rules(load_policy(default_policy_path()))
    >>> rules.kind("complaint").routes["cadre"]
    'township'
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from intake.policy import Policy, PolicyError

__all__ = [
    "LEVEL_RANK",
    "KindRule",
    "Level",
    "ReportKind",
    "ReportRules",
    "SubjectKind",
    "report_rules",
]


class ReportKind(StrEnum):
    """What the reporter brings (the chat's first question)."""

    TIP = "tip"  # 线索: a household the reporter believes is in hardship
    REPORT = "report"  # 举报: a household that should not be monitored (附件2 item 7)
    COMPLAINT = "complaint"  # 投诉: the process or a cadre (漏评错评, 优亲厚友, slowness…)
    INQUIRY = "inquiry"  # 咨询: a question
    SUGGESTION = "suggestion"  # 建议: a suggestion


class SubjectKind(StrEnum):
    """Whom or what a report is about."""

    HOUSEHOLD = "household"
    CADRE = "cadre"  # a village cadre (村干部, 网格员, 驻村干部 working in the village)
    COMMITTEE = "committee"  # the village committee as a body (村委会)
    TOWNSHIP = "township"  # the township government or its special team
    GENERAL = "general"  # no one in particular: a question or a suggestion


class Level(StrEnum):
    """The level that handles a report."""

    VILLAGE = "village"
    TOWNSHIP = "township"
    COUNTY = "county"


LEVEL_RANK = {Level.VILLAGE: 0, Level.TOWNSHIP: 1, Level.COUNTY: 2}
#: The level each subject belongs to: a report about it must be handled strictly above.
CONCERNS: dict[SubjectKind, Level] = {
    SubjectKind.CADRE: Level.VILLAGE,
    SubjectKind.COMMITTEE: Level.VILLAGE,
    SubjectKind.TOWNSHIP: Level.TOWNSHIP,
}

WorkingDays = Annotated[int, Field(ge=1, le=120)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KindRule(_Model):
    """One kind: its names, what it may be about, where each subject goes, its deadlines."""

    name: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]
    #: The "whom or what" question's choices, in the order the chat offers them.
    subjects: Annotated[list[SubjectKind], Field(min_length=1)]
    routes: dict[SubjectKind, Level]
    #: Whether the reporter may ask that the village not be told (then: the township).
    village_may_be_skipped: bool = False
    first_response_working_days: WorkingDays
    answer_working_days: WorkingDays

    @model_validator(mode="after")
    def _routes_past_the_people_concerned(self) -> KindRule:
        for subject in self.subjects:
            if subject not in self.routes:
                raise ValueError(f"subject {subject.value!r} has no route")
        for subject, level in self.routes.items():
            concerned = CONCERNS.get(subject)
            if concerned is not None and LEVEL_RANK[level] <= LEVEL_RANK[concerned]:
                raise ValueError(
                    f"a report about {subject.value!r} must go above the {concerned.value} "
                    f"(got {level.value!r})"
                )
        if self.first_response_working_days > self.answer_working_days:
            raise ValueError("first_response_working_days must not exceed answer_working_days")
        return self


class ReportRules(_Model):
    """The ``reports:`` section of one policy file."""

    #: Days after the answer during which the reporter may object, once.
    objection_days: Annotated[int, Field(ge=1, le=366)]
    anonymous_per_chat_per_day: Annotated[int, Field(ge=1, le=100)]
    lookups_per_chat_per_hour: Annotated[int, Field(ge=1, le=1000)]
    #: Wrong ID-number endings accepted per report per day before its details stay shut.
    id_attempts_per_report_per_day: Annotated[int, Field(ge=1, le=100)]
    kinds: dict[ReportKind, KindRule]

    @model_validator(mode="after")
    def _every_kind(self) -> ReportRules:
        missing = [k.value for k in ReportKind if k not in self.kinds]
        if missing:
            raise ValueError(f"kinds missing: {', '.join(missing)}")
        return self

    def kind(self, kind: str) -> KindRule:
        """The rule of ``kind`` (every kind is present; validated at load)."""
        return self.kinds[ReportKind(kind)]


def report_rules(policy: Policy, file: str | None = None) -> ReportRules:
    """The validated ``reports:`` section of ``policy``; :class:`PolicyError` if it is bad.

    The error names the dotted key under ``reports`` as :func:`intake.policy.load_policy`
    does for the rest of the file.
    """
    where = file or f"{policy.region.code}.yaml"
    if not policy.reports:
        raise PolicyError(where, "reports", "missing key")
    try:
        return ReportRules.model_validate(policy.reports)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(("reports", *(str(part) for part in first["loc"])))
        problem = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise PolicyError(where, key, problem) from None
