"""The helper's month (issue 7): helpers, their households, visits, reminders, the roster.

One concept per module:

- :mod:`intake.helpers.models` — the tables (helper, assignment, link code, visit, roster entry);
- :mod:`intake.helpers.policy` — the ``helpers:`` section of a region's policy file;
- :mod:`intake.helpers.assignments` — creating helpers and changing a household's helper;
- :mod:`intake.helpers.links` — one-time link codes that join a helper's chat;
- :mod:`intake.helpers.visits` — household-month states and the escalation ladder;
- :mod:`intake.helpers.reminders` — the month's visit reminders, computed and queued;
- :mod:`intake.helpers.roster` — importing the 花名册 (roster) from XLSX or CSV.
"""

from __future__ import annotations

#: Every module of this package that defines tables (for ``intake.db.MODEL_MODULES``).
MODEL_MODULES = ("intake.helpers.models",)
