"""A person asks to be called back: a queue item with their phone (encrypted)."""

from __future__ import annotations

from bot.effects import EffectCall, handles
from bot.flow import Reply, Text
from intake.callbacks import request_callback


@handles("callback_requested")
def callback_requested(call: EffectCall) -> list[Reply]:
    """Queue the call-back for the person's village (or the default region's)."""
    village = call.state.answers.get("village") or call.contact.village_code
    effects = call.effects
    item = request_callback(
        call.db,
        contact_id=call.contact.id,
        phone=str(call.data["phone"]),
        note=call.data.get("note"),
        context=f"{call.state.dialog}:{call.state.step}",
        village_code=village,
        policy=effects.policy_for(village),
        cipher=effects.cipher,
        new_code=effects.new_code,
        now=call.now,
    )
    return [Reply((Text("callback.queued", {"code": item.tracking_code}),))]
