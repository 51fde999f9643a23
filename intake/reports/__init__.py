"""Reports from the public (issue 8): tips, reports, complaints, questions, suggestions.

One concept per module:

* :mod:`~intake.reports.kinds`: the kinds as policy data (the ``reports:`` section);
* :mod:`~intake.reports.models`: the report table and its history (the audit log);
* :mod:`~intake.reports.routing`: where a report goes, and the one scope rule of who sees it;
* :mod:`~intake.reports.filing`: filing a report from the chat, the hotline or a letter;
* :mod:`~intake.reports.anonymity`: anonymous filing from a chat, and scrubbing its messages;
* :mod:`~intake.reports.procedure`: the state machine, the objection, deadlines;
* :mod:`~intake.reports.lookup`: status by tracking code, told to each asker what they may know;
* :mod:`~intake.reports.limits`: expiring keyed-hash counters behind the rate limits;
* :mod:`~intake.reports.figures`: the monthly figures, as rows and as an XLSX.

Table modules for :data:`intake.db.MODEL_MODULES`: ``intake.reports.models`` and
``intake.reports.limits``.
"""

MODEL_MODULES = ("intake.reports.models", "intake.reports.limits")
