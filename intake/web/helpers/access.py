"""Who sees which helper and household: the same place scope as every cadre page.

A village cadre sees their village's households and the helpers who hold one of them (or
are placed in the village); a township sees its villages and its helpers; the county
its region; anything else answers 404, as an item outside the scope does.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlmodel import Session, col, select

from intake.helpers.models import Helper, HelperAssignment
from intake.helpers.policy import HelpersPolicy, helpers_policy
from intake.households import Household
from intake.users import Role
from intake.web.auth import Viewer
from intake.web.deps import WebDeps

__all__ = [
    "can_invite",
    "helpers_policy_for",
    "scoped_helper",
    "scoped_household",
    "townships_of",
    "villages_of",
]

#: Who may make a helper's link code (the township runs the helpers; 001 三(二)).
_INVITERS = frozenset({Role.TOWNSHIP, Role.COUNTY, Role.ADMIN})


def villages_of(deps: WebDeps, viewer: Viewer) -> dict[str, str]:
    """Code → name of the villages in the viewer's scope."""
    return dict(viewer.scope.villages(deps.policies))


def townships_of(deps: WebDeps, viewer: Viewer) -> set[str]:
    """The townships whose township-wide helpers the viewer sees (none for a village)."""
    scope = viewer.scope
    if scope.role is Role.VILLAGE:
        return set()
    return {
        t.code
        for p in deps.policies.values()
        for t in p.townships
        if scope.allows_place(p.region.code, t.code, None)
    }


def helpers_policy_for(deps: WebDeps, viewer: Viewer) -> HelpersPolicy:
    """The ``helpers:`` policy of the viewer's region (the first region for an admin)."""
    policy = deps.policies.get(viewer.scope.region_code or "") or next(iter(deps.policies.values()))
    return helpers_policy(policy)


def can_invite(viewer: Viewer) -> bool:
    """Whether the viewer may make link codes for helpers in their scope."""
    return viewer.scope.can_act and viewer.scope.role in _INVITERS


def scoped_household(db: Session, deps: WebDeps, viewer: Viewer, household_id: int) -> Household:
    """The household if its village is in the viewer's scope; 404 otherwise."""
    household = db.get(Household, household_id)
    if household is None or household.village_code not in villages_of(deps, viewer):
        raise HTTPException(status_code=404, detail="no such household")
    return household


def scoped_helper(db: Session, deps: WebDeps, viewer: Viewer, helper_id: int) -> Helper:
    """The helper if placed in the viewer's scope or holding a household there; else 404."""
    helper = db.get(Helper, helper_id)
    if helper is None:
        raise HTTPException(status_code=404, detail="no such helper")
    scope = viewer.scope
    if scope.role is not Role.VILLAGE and scope.allows_place(
        helper.region_code, helper.township_code, helper.village_code
    ):
        return helper
    villages = set(villages_of(deps, viewer))
    if helper.village_code in villages:
        return helper
    holds = (
        select(HelperAssignment.id)
        .join(Household, col(Household.id) == HelperAssignment.household_id)
        .where(
            HelperAssignment.helper_id == helper_id,
            col(HelperAssignment.ended_at).is_(None),
            col(Household.village_code).in_(villages),
        )
    )
    if db.exec(holds).first() is None:
        raise HTTPException(status_code=404, detail="no such helper")
    return helper
