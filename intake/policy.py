"""Regional policy as data: criteria thresholds, income lines, time limits, vocabularies.

One YAML file per region (``intake/policies/<code>.yaml``), validated at load. Nothing in
the code knows a number from the seed documents; it reads them from here (DESIGN.md,
decision 6). A bad file raises :class:`PolicyError` naming the file, the dotted key and the
problem, e.g. ``gangkou.yaml: thresholds.disaster_loss_ratio: must be ≤ 1 (got 1.5)``.

Example::

    >>> policy = load_policy(default_policy_path())
    >>> policy.region.hotline
    '0715-3811061'
    >>> policy.township_of("gangkou-bailing").name
    '港口乡'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from intake.answers import NegativeId

__all__ = [
    "CRITERIA",
    "RULE_IDS",
    "Criterion",
    "IncomeLine",
    "NegativeItem",
    "Parents",
    "Policy",
    "PolicyError",
    "Region",
    "RiskType",
    "Source",
    "Thresholds",
    "TimeLimits",
    "Township",
    "Village",
    "bundled_policy_dir",
    "default_policy_path",
    "load_policies",
    "load_policy",
]

Criterion = Literal[
    "medical",
    "disaster",
    "accident_incapacity",
    "house_destroyed",
    "education",
    "unemployment",
    "business_failure",
    "income_below_line",
    "rigid_expense_exceeds_income",
]
CRITERIA: tuple[Criterion, ...] = get_args(Criterion)
RuleId = Literal[Criterion, "negative_list", "exception_path", "medical_extra_aid"]
RULE_IDS: tuple[str, ...] = (*CRITERIA, "negative_list", "exception_path", "medical_extra_aid")

Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=64)]
Text = Annotated[str, Field(min_length=1)]
Yuan = Annotated[float, Field(ge=0, le=100_000_000)]
Share = Annotated[float, Field(ge=0, le=1)]
Days = Annotated[int, Field(ge=1, le=366)]
Months = Annotated[int, Field(ge=1, le=120)]


class PolicyError(ValueError):
    """A policy file that cannot be used; ``str(e) == f"{file}: {key}: {problem}"``."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Parents(_Model):
    """Higher administrative levels, where the seed names them."""

    province: str | None = None
    city: str | None = None
    county: str | None = None


class Region(_Model):
    """The region one policy file covers."""

    code: Slug
    name: Text
    name_en: Text
    level: Literal["township", "county"]
    parents: Parents = Field(default_factory=Parents)
    hotline: Annotated[str, Field(pattern=r"^[0-9][0-9-]{4,19}$")] | None


class Source(_Model):
    """Where the numbers come from."""

    document: Text
    title: Text
    issued_by: Text
    issued_on: Text
    sections: Text
    note: str | None = None


class Village(_Model):
    """A village (行政村); ``code`` is unique across all loaded policies."""

    code: Slug
    name: Text


class Township(_Model):
    """A township (乡镇); ``sample`` marks demonstration entries not from the seeds."""

    code: Slug
    name: Text
    villages: Annotated[list[Village], Field(min_length=1)]
    sample: bool = False


class IncomeLine(_Model):
    """Per-capita yearly income line; ``yuan_per_capita`` is null where no figure is known."""

    year: Annotated[int, Field(ge=2000, le=2100)]
    yuan_per_capita: Yuan | None
    source: Text
    note: str | None = None

    @model_validator(mode="after")
    def _note_when_unknown(self) -> IncomeLine:
        if self.yuan_per_capita is None and not self.note:
            raise ValueError("a note is required when yuan_per_capita is null")
        return self


class Thresholds(_Model):
    """Numbers behind the criteria and the negative-list exception (see the YAML comments)."""

    medical_out_of_pocket_share: Share
    medical_out_of_pocket_yuan: Yuan
    disaster_loss_ratio: Share
    disaster_loss_yuan: Yuan
    unemployed_months: Annotated[float, Field(ge=0, le=120)]
    education_expense_share: Share
    medical_extra_aid_yuan: Yuan | None
    exception_per_capita_income_yuan: Yuan
    exception_rigid_expense_ratio: Annotated[float, Field(gt=0, le=10)]
    exception_income_drop_ratio: Share
    exception_debts_yuan: Yuan


class TimeLimits(_Model):
    """Procedure time limits."""

    township_review_working_days: Days
    public_notice_days: Days
    decision_days: Days
    help_max_months: Months
    followup_months: Months
    session_expiry_days: Days | None = None


class RiskType(_Model):
    """A risk type (返贫风险类型) and the criteria that point to it."""

    code: Annotated[str, Field(pattern=r"^[0-9]{2}$")]
    name: Text
    name_en: Text
    criteria: list[Criterion] = Field(default_factory=list)
    source: Text


class NegativeItem(_Model):
    """One entry of the negative list (a flag for the cadre, never a refusal)."""

    id: NegativeId
    zh: Text
    en: Text


class Policy(_Model):
    """One region's policy, as loaded from its YAML file."""

    version: Text
    region: Region
    source: Source
    townships: Annotated[list[Township], Field(min_length=1)]
    income_line: list[IncomeLine]
    thresholds: Thresholds
    time_limits: TimeLimits
    rule_sources: dict[RuleId, Text] = Field(default_factory=dict)
    risk_types: Annotated[list[RiskType], Field(min_length=1)]
    negative_list: list[NegativeItem]
    #: Sections that belong to a capability's own package, which validates them when it
    #: loads them (``intake.helpers``: the helper's month; ``intake.reports``: report kinds).
    helpers: dict[str, Any] = Field(default_factory=dict)
    reports: dict[str, Any] = Field(default_factory=dict)

    def village(self, code: str) -> Village | None:
        """The village with this code, or ``None``."""
        for township in self.townships:
            for village in township.villages:
                if village.code == code:
                    return village
        return None

    def township_of(self, village_code: str) -> Township | None:
        """The township holding this village, or ``None``."""
        for township in self.townships:
            if any(v.code == village_code for v in township.villages):
                return township
        return None

    def income_line_for(self, year: int) -> IncomeLine | None:
        """The income-line entry for exactly this year, or ``None`` (no fallback)."""
        return next((line for line in self.income_line if line.year == year), None)

    def rule_source(self, rule: str) -> str | None:
        """The citation for a rule id (``medical``, ``exception_path``...), if any."""
        return next((text for key, text in self.rule_sources.items() if key == rule), None)

    def risk_type(self, code: str) -> RiskType | None:
        """The risk type with this code, or ``None``."""
        return next((rt for rt in self.risk_types if rt.code == code), None)

    def risk_type_name(self, code: str) -> str:
        """The Chinese name of a risk type; an unknown code is returned unchanged."""
        found = self.risk_type(code)
        return found.name if found else code

    def risk_types_for(self, criterion: str) -> list[RiskType]:
        """Risk types a met criterion maps to, in file order."""
        return [rt for rt in self.risk_types if criterion in rt.criteria]

    def negative_item(self, negative_id: str) -> NegativeItem | None:
        """The negative-list entry with this id, or ``None`` if the region does not list it."""
        return next((n for n in self.negative_list if n.id == negative_id), None)

    def villages(self) -> Iterable[tuple[Township, Village]]:
        """Every (township, village) pair, in file order."""
        for township in self.townships:
            for village in township.villages:
                yield township, village


# --- loading ---------------------------------------------------------------------------

_PROBLEMS = {
    "missing": "missing key",
    "extra_forbidden": "unknown key",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}
_BOUNDS = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}
_BOUND_KEYS = {
    "greater_than_equal": "ge",
    "greater_than": "gt",
    "less_than_equal": "le",
    "less_than": "lt",
}


def _describe(error: Any) -> str:
    """A short plain problem for one pydantic error."""
    kind = error["type"]
    got = error.get("input")
    ctx = error.get("ctx") or {}
    if kind in _PROBLEMS:
        return _PROBLEMS[kind]
    if kind in _BOUNDS:
        bound = ctx.get(_BOUND_KEYS[kind])
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {_BOUNDS[kind]} {bound} (got {got!r})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {got!r})"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')} (got {got!r})"
    if kind == "too_short":
        return "must not be empty"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _dotted(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


#: libyaml's safe loader when PyYAML was built with it: the pure-Python one took a quarter
#: of a second per load of the policy files, and every service start loads them.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(str(path), "<file>", f"cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, in C when built
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise PolicyError(str(path), "<yaml>", f"{where}{exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(str(path), "<yaml>", str(exc)) from None


def _first_duplicate(pairs: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The first (key, value) whose value was already seen."""
    seen: set[str] = set()
    for key, value in pairs:
        if value in seen:
            return key, value
        seen.add(value)
    return None


def _check_consistency(policy: Policy, file: str) -> None:
    """Cross-entry rules the field types cannot express."""
    checks: list[tuple[str, Iterable[tuple[str, str]]]] = [
        (
            "township code",
            ((f"townships.{i}.code", t.code) for i, t in enumerate(policy.townships)),
        ),
        (
            "village code",
            (
                (f"townships.{i}.villages.{j}.code", v.code)
                for i, t in enumerate(policy.townships)
                for j, v in enumerate(t.villages)
            ),
        ),
        (
            "year",
            ((f"income_line.{i}.year", str(x.year)) for i, x in enumerate(policy.income_line)),
        ),
        (
            "risk type code",
            ((f"risk_types.{i}.code", r.code) for i, r in enumerate(policy.risk_types)),
        ),
        ("id", ((f"negative_list.{i}.id", n.id) for i, n in enumerate(policy.negative_list))),
    ]
    for what, pairs in checks:
        duplicate = _first_duplicate(pairs)
        if duplicate:
            raise PolicyError(file, duplicate[0], f"duplicate {what} {duplicate[1]!r}")
    mapped = Counter(c for rt in policy.risk_types for c in rt.criteria)
    for criterion in CRITERIA:
        if not mapped[criterion]:
            raise PolicyError(file, "risk_types", f"criterion {criterion!r} maps to no risk type")


def load_policy(path: str | Path) -> Policy:
    """Load and validate one policy file; raises :class:`PolicyError` on any problem."""
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise PolicyError(str(path), "<root>", "must be a mapping of keys")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise PolicyError(str(path), _dotted(first["loc"]), _describe(first) + more) from None
    _check_consistency(policy, str(path))
    return policy


def bundled_policy_dir() -> Path:
    """The directory of policy files shipped with the package (``intake/policies``)."""
    return Path(__file__).resolve().parent / "policies"


def default_policy_path() -> Path:
    """The default region's policy file (港口乡, the seed with the full criteria)."""
    return bundled_policy_dir() / "gangkou.yaml"


def load_policies(directory: Path | None = None) -> dict[str, Policy]:
    """Load every ``*.yaml`` in ``directory`` (default: bundled), keyed by region code.

    Region codes and village codes must be unique across all the files.
    """
    directory = directory or bundled_policy_dir()
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PolicyError(str(directory), "<dir>", "no policy files (*.yaml)")
    policies: dict[str, Policy] = {}
    village_files: dict[str, str] = {}
    for path in files:
        policy = load_policy(path)
        if policy.region.code in policies:
            raise PolicyError(str(path), "region.code", f"duplicate region {policy.region.code!r}")
        for i, township in enumerate(policy.townships):
            for j, village in enumerate(township.villages):
                other = village_files.setdefault(village.code, path.name)
                if other != path.name:
                    key = f"townships.{i}.villages.{j}.code"
                    raise PolicyError(str(path), key, f"village {village.code!r} also in {other}")
        policies[policy.region.code] = policy
    return policies
