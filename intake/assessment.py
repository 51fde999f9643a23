"""The self-application assessment: answers + policy -> advice for the cadre. Pure, no I/O.

:func:`assess` checks each criterion of seed 000 四(一)1 and the national frame (seed 004)
against the region's :class:`~intake.policy.Policy` numbers, flags negative-list answers,
checks the negative-list exception (seed 000 附件2) and explains every finding with the
rule and the actual numbers. It never refuses anyone: the recommendation is one of

* ``likely``: at least one criterion met, no negative-list flag and no negative-list
  question answered "not sure";
* ``cadre_decides``: a negative-list flag is present (exception path or not) - the village
  committee and work team decide;
* ``review``: nothing met yet, a negative-list answer "not sure" to check, or too much
  unknown - a cadre should look.

:meth:`Assessment.to_json` gives a JSON-ready dict; ``explanations`` is a list of
``{"rule", "kind", "text_zh", "text_en"}`` so a Chinese cadre screen shows ``text_zh``, an
English CLI ``text_en``, and either can filter by ``kind`` (``met``, ``not_met``,
``unknown``, ``flag``, ``exception``, ``note``). Each text is one sentence ending with the
policy citation, e.g. ``医疗自付 35,000 元 ≥ 30,000 元（港口乡方案 四(一)1(1)）``; the
citations come from the ``rule_sources`` of the policy file in use.

The year (for the income line) defaults to the current calendar year in China, the same
year the chat's applications are assessed in (:func:`assessment_year`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from intake.answers import Answers
from intake.policy import CRITERIA, Policy

__all__ = ["Assessment", "Explanation", "RiskType", "assess", "assessment_year"]

CHINA = ZoneInfo("Asia/Shanghai")

Kind = Literal["met", "not_met", "unknown", "flag", "exception", "note"]
Recommendation = Literal["likely", "review", "cadre_decides"]
Tri = bool | None  # True / False / unknown
Bi = tuple[str, str]  # (Chinese, English)

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_ACCIDENT: Bi = (
    "家庭主要劳动力因突发事故丧失劳动能力",
    "The main labourer lost the ability to work",
)
_BUSINESS: Bi = ("家庭发展产业失败，失去稳定收入来源", "The family farm or business failed")


class Explanation(BaseModel):
    """One finding: the rule id, what kind of finding, and one sentence in each language."""

    model_config = _FROZEN

    rule: str
    kind: Kind
    text_zh: str
    text_en: str


class RiskType(BaseModel):
    """A risk type a met criterion points to (code and names from the policy)."""

    model_config = _FROZEN

    code: str
    name: str
    name_en: str


class Assessment(BaseModel):
    """The advice for one household under one policy."""

    model_config = _FROZEN

    criteria_met: list[str]
    negative_flags: list[str]
    #: Negative-list questions answered "not sure": for the cadre to check.
    negative_unknown: list[str]
    exception_path: bool
    risk_types: list[RiskType]
    fast_track: bool
    explanations: list[Explanation]
    recommendation: Recommendation
    policy_version: str
    region_code: str
    year: int | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (explanations as ``{rule, kind, text_zh, text_en}``)."""
        return self.model_dump(mode="json")


def _d(value: float) -> Decimal:
    """Exact decimal of a number as written, so 0.2 × 100,000 is exactly 20,000."""
    return Decimal(str(value))


def _y(value: float | Decimal) -> str:
    """Yuan with thousands separators: 35,000 or 1,234.50."""
    number = value if isinstance(value, Decimal) else _d(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,.2f}"


def _pct(ratio: float | Decimal) -> str:
    return f"{float(ratio) * 100:g}%"


def _cat(first: Bi, second: Bi, sep: Bi = ("；", "; ")) -> Bi:
    return f"{first[0]}{sep[0]}{second[0]}", f"{first[1]}{sep[1]}{second[1]}"


def _rigid_expenses(answers: Answers) -> Decimal | None:
    """Known rigid expenses (medical out-of-pocket + school costs), or ``None`` if neither."""
    parts = (answers.medical_out_of_pocket_yuan, answers.education_expense_yuan)
    known = [_d(x) for x in parts if x is not None]
    return sum(known, Decimal(0)) if known else None


def _per_capita(income: float, size: int) -> str:
    return _y((_d(income) / size).quantize(Decimal("0.01")))


class _Assessor:
    """Runs the rules in order, collecting met criteria and explanations."""

    def __init__(self, answers: Answers, policy: Policy, year: int | None) -> None:
        self.a, self.p, self.t, self.year = answers, policy, policy.thresholds, year
        self.met: list[str] = []
        self.explanations: list[Explanation] = []

    def add(self, rule: str, kind: Kind, text: Bi, cite: str | None = None) -> None:
        source = self.p.rule_source(cite or rule)
        zh_end, en_end = (f"（{source}）", f" ({source}).") if source else ("", ".")
        self.explanations.append(
            Explanation(rule=rule, kind=kind, text_zh=text[0] + zh_end, text_en=text[1] + en_end)
        )
        if kind == "met":
            self.met.append(rule)

    def run(self) -> None:
        for criterion in CRITERIA:  # one method per criterion id, in the fixed order
            getattr(self, criterion)()

    def _share_of_income(self, share: float, income: float | None) -> tuple[Decimal | None, Bi]:
        """The share-of-income limit and its wording, or ``None`` and why not when unknown."""
        if income is None:
            return None, (
                f"年收入不清楚，无法按收入的 {_pct(share)} 判断",
                f"annual income unknown, so the {_pct(share)}-of-income test cannot be made",
            )
        limit = _d(share) * _d(income)
        return limit, (
            f"年收入 {_y(income)} 元的 {_pct(share)}（{_y(limit)} 元）",
            f"{_pct(share)} of annual income {_y(income)} yuan ({_y(limit)} yuan)",
        )

    # --- criteria ------------------------------------------------------------------------

    def medical(self) -> None:
        oop = self.a.medical_out_of_pocket_yuan
        if oop is None:
            return
        cap = self.t.medical_out_of_pocket_yuan
        zh, en = f"医疗自付 {_y(oop)} 元", f"Medical out-of-pocket {_y(oop)} yuan"
        limit, of = self._share_of_income(
            self.t.medical_out_of_pocket_share, self.a.annual_income_yuan
        )
        below = (f"{zh}，未达 {_y(cap)} 元", f"{en} is below {_y(cap)} yuan")
        if _d(oop) >= _d(cap):
            self.add("medical", "met", (f"{zh} ≥ {_y(cap)} 元", f"{en} ≥ {_y(cap)} yuan"))
        elif limit is None:
            self.add("medical", "unknown", _cat(below, of))
        elif _d(oop) > limit:
            self.add("medical", "met", (f"{zh} > {of[0]}", f"{en} > {of[1]}"))
        else:
            self.add("medical", "not_met", _cat(below, of, ("，也未超过", " and not above ")))
        self.medical_extra_aid()

    def medical_extra_aid(self) -> None:
        oop, aid = self.a.medical_out_of_pocket_yuan, self.t.medical_extra_aid_yuan
        if oop is None or aid is None or _d(oop) <= _d(aid):
            return
        text = (
            f"医疗自付 {_y(oop)} 元 > {_y(aid)} 元，县里对自付超过 {_y(aid)} 元的脱贫人口"
            "另有额外医疗救助，请干部核实",
            f"Medical out-of-pocket {_y(oop)} yuan > {_y(aid)} yuan: the county gives extra "
            f"medical aid to people lifted out of poverty who pay over {_y(aid)} yuan; "
            "a cadre should check",
        )
        self.add("medical_extra_aid", "note", text)

    def disaster(self) -> None:
        ratio, loss = self.a.disaster_loss_ratio, self.a.disaster_loss_yuan
        if ratio is None and loss is None:
            return
        t_ratio, t_yuan = self.t.disaster_loss_ratio, self.t.disaster_loss_yuan
        facts = [
            (f"损失比例 {_pct(ratio)}", f"loss ratio {_pct(ratio)}") if ratio is not None else None,
            (f"损失金额 {_y(loss)} 元", f"loss {_y(loss)} yuan") if loss is not None else None,
        ]
        known = [f for f in facts if f is not None]
        zh = "因灾损失：" + "、".join(f[0] for f in known)
        en = "Disaster: " + ", ".join(f[1] for f in known)
        std_zh, std_en = (
            f"{_pct(t_ratio)} 或 {_y(t_yuan)} 元",
            f"{_pct(t_ratio)} or {_y(t_yuan)} yuan",
        )
        by_ratio = ratio is not None and _d(ratio) >= _d(t_ratio)
        by_loss = loss is not None and _d(loss) >= _d(t_yuan)
        if by_ratio or by_loss:
            self.add("disaster", "met", (f"{zh}，达到 {std_zh}", f"{en}; reaches {std_en}"))
        elif ratio is None or loss is None:
            missing = ("损失比例", "loss ratio") if ratio is None else ("损失金额", "loss")
            text = (
                f"{zh}，未达 {std_zh}；{missing[0]}不清楚",
                f"{en}; below {std_en}; {missing[1]} unknown",
            )
            self.add("disaster", "unknown", text)
        else:
            self.add("disaster", "not_met", (f"{zh}，未达 {std_zh}", f"{en}; below {std_en}"))

    def accident_incapacity(self) -> None:
        if self.a.main_labourer_incapacitated is True:
            self.add("accident_incapacity", "met", _ACCIDENT)

    def business_failure(self) -> None:
        if self.a.business_failed is True:
            self.add("business_failure", "met", _BUSINESS)

    def house_destroyed(self) -> None:
        if self.a.only_house_destroyed is not True:
            return
        zh, en = "唯一住房因灾倒塌", "The only house was destroyed by disaster"
        if self.a.can_rebuild is False:
            self.add("house_destroyed", "met", (f"{zh}，自身无条件重建", f"{en}; cannot rebuild"))
        elif self.a.can_rebuild is None:
            text = (f"{zh}，能否自行重建还不清楚", f"{en}; unknown whether it can be rebuilt")
            self.add("house_destroyed", "unknown", text)
        else:
            self.add(
                "house_destroyed", "not_met", (f"{zh}，但自身有条件重建", f"{en}; can rebuild")
            )

    def education(self) -> None:
        cost = self.a.education_expense_yuan
        if cost is None:
            return
        limit, of = self._share_of_income(self.t.education_expense_share, self.a.annual_income_yuan)
        zh, en = f"教育支出 {_y(cost)} 元", f"School costs {_y(cost)} yuan"
        if cost == 0:
            self.add("education", "not_met", ("没有教育支出", "No school costs"))
        elif limit is None:
            self.add("education", "unknown", _cat((zh, en), of))
        elif _d(cost) >= limit:
            self.add("education", "met", (f"{zh} ≥ {of[0]}", f"{en} ≥ {of[1]}"))
        else:
            self.add("education", "not_met", (f"{zh} < {of[0]}", f"{en} < {of[1]}"))

    def unemployment(self) -> None:
        months = self.a.unemployed_months
        if months is None:
            return
        limit = self.t.unemployed_months
        zh, en = f"失业 {months:g} 个月仍未就业", f"Out of work for {months:g} months"
        if months == 0:
            self.add("unemployment", "not_met", ("未失业", "Not out of work"))
        elif _d(months) >= _d(limit):
            self.add("unemployment", "met", (f"{zh}，达到 {limit:g} 个月", f"{en} (≥ {limit:g})"))
        else:
            text = (f"{zh}，未满 {limit:g} 个月", f"{en} (< {limit:g})")
            self.add("unemployment", "not_met", text)

    def income_below_line(self) -> None:
        rule, year = "income_below_line", self.year
        line = self.p.income_line_for(year) if year is not None else None
        income, size = self.a.annual_income_yuan, self.a.household_size
        if year is None or line is None or line.yuan_per_capita is None:
            when = (f" {year} 年的", f" for {year}") if year is not None else ("", "")
            text = (
                f"本政策没有{when[0]}收入线金额，未按收入线判断",
                f"This policy has no income-line figure{when[1]}; the line was not checked",
            )
            self.add(rule, "note", text)
        elif income is None or size is None:
            what = ("年收入", "Annual income") if income is None else ("家庭人口", "Household size")
            text = (
                f"{what[0]}不清楚，无法按收入线判断",
                f"{what[1]} unknown; the line cannot be checked",
            )
            self.add(rule, "unknown", text)
        else:
            line_yuan = line.yuan_per_capita
            zh, en = (
                f"人均收入 {_per_capita(income, size)} 元",
                f"Per-capita income {_per_capita(income, size)} yuan",
            )
            std = (
                f"{year} 年收入线 {_y(line_yuan)} 元",
                f"the {year} line of {_y(line_yuan)} yuan",
            )
            if _d(income) < _d(line_yuan) * size:
                self.add(rule, "met", (f"{zh} < {std[0]}", f"{en} < {std[1]}"))
            else:
                self.add(rule, "not_met", (f"{zh}，不低于{std[0]}", f"{en} is not below {std[1]}"))

    def rigid_expense_exceeds_income(self) -> None:
        rule, rigid = "rigid_expense_exceeds_income", _rigid_expenses(self.a)
        if rigid is None:
            return
        prev = self.a.previous_year_income_yuan
        zh = f"刚性支出（医疗自付+教育）{_y(rigid)} 元"
        en = f"Rigid expenses (medical out-of-pocket + school) {_y(rigid)} yuan"
        if prev is None:
            text = (f"{zh}；上年收入不清楚，无法比较", f"{en}; last year's income unknown")
            self.add(rule, "unknown", text)
        elif rigid > _d(prev):
            text = (f"{zh} > 上年收入 {_y(prev)} 元", f"{en} > last year's income {_y(prev)} yuan")
            self.add(rule, "met", text)
        else:
            text = (
                f"{zh}，未超过上年收入 {_y(prev)} 元",
                f"{en}, not above last year's {_y(prev)}",
            )
            self.add(rule, "not_met", text)

    # --- negative list and its exception -------------------------------------------------

    def negative_flags(self) -> list[str]:
        flags: list[str] = []
        for nid in self.a.negative.flagged():
            item = self.p.negative_item(nid)
            if item is None:  # this region's list does not have it: not a flag here
                continue
            flags.append(nid)
            text = (
                f"负面清单：{item.zh}。这只是提示，由村两委和驻村工作队研究决定",
                f"Negative list: {item.en}. A flag for the village committee and work team "
                "to weigh, not a refusal",
            )
            self.add(f"negative.{nid}", "flag", text, cite="negative_list")
        return flags

    def negative_unknown(self) -> list[str]:
        """Negative-list questions answered "not sure", listed for the cadre to check."""
        unknown: list[str] = []
        for nid in self.a.negative_unknown:
            item = self.p.negative_item(nid)
            if item is None:  # this region's list does not have it
                continue
            unknown.append(nid)
            text = (
                f"负面清单：{item.zh}——农户答“不清楚”，请干部核实",
                f'Negative list: {item.en} - answered "not sure"; a cadre should check',
            )
            self.add(f"negative.{nid}", "unknown", text, cite="negative_list")
        return unknown

    def _exc_income(self) -> tuple[Tri, Bi]:
        income, size = self.a.annual_income_yuan, self.a.household_size
        limit = self.t.exception_per_capita_income_yuan
        if income is None or size is None:
            return None, ("人均收入不清楚", "per-capita income unknown")
        ok = _d(income) < _d(limit) * size
        pc, sign = _per_capita(income, size), "<" if ok else "≥"
        return ok, (
            f"人均收入 {pc} 元 {sign} {_y(limit)} 元",
            f"per capita {pc} {sign} {_y(limit)}",
        )

    def _exc_burden(self) -> tuple[Tri, Bi]:
        """Rigid expenses very large, or income fell sharply (either suffices)."""
        income, prev = self.a.annual_income_yuan, self.a.previous_year_income_yuan
        rigid = _rigid_expenses(self.a)
        ratio, drop = self.t.exception_rigid_expense_ratio, self.t.exception_income_drop_ratio
        found: list[tuple[bool, Bi]] = []
        if rigid is not None and income is not None:
            ok = rigid > 0 and rigid >= _d(ratio) * _d(income)
            sign = "≥" if ok else "<"
            text = (
                f"刚性支出 {_y(rigid)} 元 {sign} 年收入的 {_pct(ratio)}",
                f"rigid expenses {_y(rigid)} {sign} {_pct(ratio)} of annual income",
            )
            found.append((ok, text))
        if prev is not None and income is not None and prev > 0:
            ok = _d(income) <= _d(prev) * (1 - _d(drop))
            fell, sign = (
                _pct(max((_d(prev) - _d(income)) / _d(prev), Decimal(0))),
                "≥" if ok else "<",
            )
            text = (
                f"收入比上年下降 {fell} {sign} {_pct(drop)}",
                f"income fell {fell} {sign} {_pct(drop)}",
            )
            found.append((ok, text))
        state: Tri = True if any(ok for ok, _ in found) else (False if len(found) == 2 else None)
        if state is None:
            found.append(
                (False, ("刚性支出或收入变化不清楚", "rigid expenses or income change unknown"))
            )
        return state, ("，".join(t[0] for _, t in found), ", ".join(t[1] for _, t in found))

    def _exc_debts(self) -> tuple[Tri, Bi]:
        debts, limit = self.a.debts_yuan, self.t.exception_debts_yuan
        if debts is None:
            return None, ("外债不清楚", "debts unknown")
        ok = _d(debts) >= _d(limit)
        sign = "≥" if ok else "<"
        return ok, (
            f"外债 {_y(debts)} 元 {sign} {_y(limit)} 元",
            f"debts {_y(debts)} {sign} {_y(limit)}",
        )

    def exception_path(self) -> bool:
        parts = [self._exc_income(), self._exc_burden(), self._exc_debts()]
        states = [state for state, _ in parts]
        facts = ("；".join(t[0] for _, t in parts), "; ".join(t[1] for _, t in parts))
        holds = all(state is True for state in states)
        if holds:
            text = (
                f"负面清单例外情形成立：{facts[0]}。经村两委和驻村工作队集体研究、"
                "村民代表大会同意，也可纳入监测",
                f"The negative-list exception holds: {facts[1]}. After the village committee and "
                "work team study it and the villagers' assembly agrees, it may still be monitored",
            )
            self.add("exception_path", "exception", text)
        else:
            kind: Kind = "unknown" if None in states else "not_met"
            text = (
                f"负面清单例外情形需同时满足三项，目前：{facts[0]}",
                f"The negative-list exception needs all three; so far: {facts[1]}",
            )
            self.add("exception_path", kind, text)
        return holds


def _recommendation(met: list[str], flags: list[str], unknown: list[str]) -> Recommendation:
    if flags:
        return "cadre_decides"
    return "likely" if met and not unknown else "review"


def assessment_year(now: datetime | None = None) -> int:
    """The calendar year in China at ``now`` (default: the clock) - the year assessed in."""
    return (now or datetime.now(UTC)).astimezone(CHINA).year


def assess(
    answers: Answers, policy: Policy, *, year: int | None = None, now: datetime | None = None
) -> Assessment:
    """Assess one household's answers under one region's policy.

    ``year`` selects the income line; when omitted it is :func:`assessment_year` of ``now``
    (the clock when ``now`` is omitted too), as for applications made in the chat. A year
    the policy lists no line for is said so in a note. Pure once the year is known; never
    raises for valid :class:`Answers` and a loaded :class:`Policy`.
    """
    if year is None:
        year = assessment_year(now)
    run = _Assessor(answers, policy, year)
    run.run()
    flags = run.negative_flags()
    unknown = run.negative_unknown()
    exception = run.exception_path() if flags else False
    risk_types = [  # in the policy's order, each once
        RiskType(code=rt.code, name=rt.name, name_en=rt.name_en)
        for rt in policy.risk_types
        if set(rt.criteria) & set(run.met)
    ]
    return Assessment(
        criteria_met=list(run.met),
        negative_flags=flags,
        negative_unknown=unknown,
        exception_path=exception,
        risk_types=risk_types,
        fast_track=bool({"disaster", "accident_incapacity"} & set(run.met)),
        explanations=list(run.explanations),
        recommendation=_recommendation(run.met, flags, unknown),
        policy_version=policy.version,
        region_code=policy.region.code,
        year=year,
    )
