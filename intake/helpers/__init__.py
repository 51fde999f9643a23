"""The helper's month (issue 7): helpers, their households, visits, reminders, the roster.

One concept per module:

- :mod:`intake.helpers.models` — the tables (helper, assignment, link code, visit, roster entry);
- :mod:`intake.helpers.policy` — the ``helpers:`` section of a region's policy file;
- :mod:`intake.helpers.assignments` — creating helpers and changing a household's helper;
- :mod:`intake.helpers.links` — one-time link codes that join a helper's chat;
- :mod:`intake.helpers.visits` — household-month states and the escalation ladder;
- :mod:`intake.helpers.reminders` — the month's visit reminders, computed and queued;
- :mod:`intake.helpers.roster` — importing the 花名册 (roster) from XLSX or CSV.
- :mod:`intake.helpers.enrolment` — the helper an enrolment names (picked or created);
- :mod:`intake.helpers.outcomes` — the 1-year review's and the exit's outcomes;
- :mod:`intake.helpers.review` — opening the reviews and exits that are due (daily job);
- :mod:`intake.helpers.review_notices` — what the applicant hears at each review step;
- :mod:`intake.helpers.measures` — measure deadlines (完成时限) on the visits' ladder;
- :mod:`intake.helpers.overview` — the helpers page's counts and compliance;
- :mod:`intake.helpers.visit_log` — the visit log (走访记录) as a spreadsheet.
"""

from __future__ import annotations

#: Every module of this package that defines tables (for ``intake.db.MODEL_MODULES``).
MODEL_MODULES = ("intake.helpers.models",)
