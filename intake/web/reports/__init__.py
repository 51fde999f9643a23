"""The cadres' side of reports from the public (issue 8), one concept per module:

* :mod:`~intake.web.reports.listing`: the reports queue (filters, counts, deadlines);
* :mod:`~intake.web.reports.view`: one report's page data and the reveal of its reporter;
* :mod:`~intake.web.reports.search`: the search box for applications and reports;
* :mod:`~intake.web.reports.letters`: mailbox letters typed in, with a photo;
* :mod:`~intake.web.reports.labels`: the names of kinds, states, levels, moves;
* :mod:`~intake.web.reports.pages`: the routes.

Everything a page lists, counts or finds goes through
:func:`intake.reports.routing.visibility`.
"""

from intake.web.reports.pages import build_reports_router

__all__ = ["build_reports_router"]
