"""The effect kinds, one small module each; importing this package registers them all.

Each module decorates its handlers with :func:`bot.effects.handles`. Add a kind by adding
a module here and naming it below.
"""

from bot.effect_kinds import applications, helpers, language, lookups, reports, requests
from bot.effects import HANDLERS

__all__ = ["HANDLERS", "applications", "helpers", "language", "lookups", "reports", "requests"]
