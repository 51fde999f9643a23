"""The conversation service: every channel hands its messages here.

``receive`` stores the message first (a redelivery is answered with the first replies
and changes nothing), then processes the sender's pending messages one at a time, in
order: load the dialog state, run the engine, carry out its effects, save — one
transaction per message, so a crash leaves either everything or nothing of it.

When the database itself is away (refused connections, a dropped connection, a locked or
missing SQLite file), nothing is answered and nothing is marked failed: ``receive`` raises
:class:`StorageUnavailable`, the channel answers 503, and the sender's redelivery is
answered once the database is back. Only a fault in answering (a bug) marks a message
failed, and the person is then asked to send it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakValueDictionary

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot import inbound, numbered
from bot.effect_kinds import reports
from bot.effects import Effects
from bot.engine import Engine, Input, Sprint
from bot.flow import Context, Reply, Text, Village
from bot.render import Rendered, render
from bot.sessions import load_state, save_state
from intake import attachments
from intake.applications import load_draft
from intake.columns import utcnow
from intake.contacts import Contact, find_contact, get_or_create_contact
from intake.db import Database
from intake.helpers.links import linked_helper
from intake.outage import StorageUnavailable, is_outage, outage_guard
from locales import normalize_locale
from notifications.claims import recipient_free
from notifications.handoff import HandOff, Taker
from notifications.outbox import OutboxMessage, Priority, enqueue

log = logging.getLogger(__name__)
VILLAGE_PAYLOAD_PREFIX = "v_"
#: Effects that file a queue item: files the person sent before go with it.
FILING_EFFECTS = frozenset({"application_submitted", "callback_requested"})


@dataclass(frozen=True)
class Incoming:
    """One message as a channel hands it over."""

    channel: str
    external_id: str
    sender: str
    input: Input
    language: str | None = None
    sequence: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: Outbound payloads the channel sends ahead of the replies, queued in the same
    #: transaction (Telegram: the tapped keyboard marked as answered).
    ahead: tuple[dict[str, Any], ...] = ()
    #: Writing at all means the sender can be reached again (they had blocked the bot).
    reachable: bool = False

    def payload(self) -> dict[str, Any]:
        """What is stored (encrypted) for this message."""
        return {
            "text": self.input.text,
            "data": self.input.data,
            "start": self.input.start,
            "payload": self.input.payload,
            "language": self.language,
            "meta": self.meta,
            "ahead": list(self.ahead),
            "reachable": self.reachable,
        }

    @classmethod
    def from_payload(cls, row: inbound.InboundMessage, data: dict[str, Any]) -> Incoming:
        """Rebuild from a stored row."""
        given = Input(
            text=str(data.get("text") or ""),
            data=data.get("data"),
            start=bool(data.get("start")),
            payload=data.get("payload"),
        )
        return cls(
            row.channel,
            row.external_id,
            row.sender,
            given,
            data.get("language"),
            row.sequence,
            dict(data.get("meta") or {}),
            tuple(a for a in data.get("ahead") or () if isinstance(a, dict)),
            bool(data.get("reachable")),
        )


@dataclass(frozen=True)
class Answered:
    """What the channel should say back, and whether this was a redelivery.

    ``handed`` are the outbox rows of the replies, written already claimed by the
    dispatcher's worker (:class:`~notifications.handoff.HandOff`): the channel passes them
    straight to the dispatcher, which sends them without claiming them again.
    """

    replies: tuple[Rendered, ...]
    duplicate: bool = False
    handed: tuple[OutboxMessage, ...] = ()


class Conversations:
    """Receives messages from every channel and answers them through the engine."""

    def __init__(
        self,
        db: Database,
        engine: Engine,
        effects: Effects,
        *,
        session_ttl: timedelta = timedelta(days=3),
        clock: Callable[[], datetime] = utcnow,
        outbox_channels: frozenset[str] = frozenset(),
    ) -> None:
        self.db = db
        self.engine = engine
        self.effects = effects
        self.session_ttl = session_ttl
        self.clock = clock
        #: Channels whose replies go through the outbox rather than in the response.
        self.outbox_channels = outbox_channels
        self.villages = tuple(
            Village(v.code, v.name, t.code, t.name)
            for p in effects.policies.values()
            for t in p.townships
            for v in t.villages
        )
        #: The dispatcher of this process, once it runs: replies are handed to it.
        self.taker: Taker | None = None
        self._locks: WeakValueDictionary[tuple[str, str], threading.Lock] = WeakValueDictionary()
        self._locks_guard = threading.Lock()

    def receive(self, message: Incoming) -> Answered:
        """Store ``message`` durably and answer it, in order with its sender's others.

        The usual path is one transaction: store, answer, commit — so a 2xx is only ever
        given for a message that is stored with its answer. If answering fails, the
        transaction is rolled back and the message is stored again, marked failed, with a
        polite reply: nothing half-written, nothing lost. If the database is away, raises
        :class:`StorageUnavailable` and nothing is marked.
        """
        with self._lock_for(message.channel, message.sender), outage_guard():
            return self._receive(message)

    def _receive(self, message: Incoming) -> Answered:
        try:
            replies: tuple[Rendered, ...] | None
            handed: list[OutboxMessage] = []
            with self.db.write() as db:
                waiting = inbound.has_pending(db, message.channel, message.sender)
                row = self._store(db, message)
                if row is None:
                    replies = None
                elif waiting:
                    replies = ()  # answered below, after the ones stored before it
                else:
                    handoff = self.taker.handoff(message.channel) if self.taker else None
                    answered, handed = self._answer(db, row, message, handoff)
                    replies = tuple(answered)
        except Exception as error:
            if is_outage(error):
                raise
            if isinstance(error, IntegrityError) and self._is_stored(message):
                return self._stored_before(message)  # a twin delivery won the race
            log.exception("answering %s message failed", message.channel)
            return Answered(self._store_failed(message, error))
        if replies is None:
            return self._stored_before(message)
        if replies:
            return Answered(replies, handed=tuple(handed))
        self._drain(message.channel, message.sender)
        return self._redelivered(message, duplicate=False)

    def _stored_before(self, message: Incoming) -> Answered:
        """A redelivery: its first replies, or - if the database went away before it was
        answered (the sender got a 503) - its answer now."""
        with self.db.read() as db:
            stored = inbound.find(db, message.channel, message.external_id)
        if stored is None or stored.status != inbound.InboundStatus.RECEIVED:
            return self._redelivered(message)
        self._drain(message.channel, message.sender)
        return self._redelivered(message, duplicate=False)

    def _is_stored(self, message: Incoming) -> bool:
        with self.db.read() as db:
            return inbound.find(db, message.channel, message.external_id) is not None

    def _store(self, db: Session, message: Incoming) -> inbound.InboundMessage | None:
        return inbound.store(
            db,
            channel=message.channel,
            external_id=message.external_id,
            sender=message.sender,
            payload=message.payload(),
            cipher=self.effects.cipher,
            now=self.clock(),
            sequence=message.sequence,
        )

    def _store_failed(self, message: Incoming, error: Exception) -> tuple[Rendered, ...]:
        reply = render(Reply((Text("error.internal"),)), normalize_locale(message.language))
        with self.db.write() as db:
            row = self._store(db, message)
            if row is not None:
                self._fail(db, row, error, reply)
        return (reply,)

    def _fail(
        self, db: Session, row: inbound.InboundMessage, error: Exception, reply: Rendered
    ) -> None:
        """Keep the message as failed, with the polite reply the person is sent."""
        row.status = inbound.InboundStatus.FAILED
        row.error = type(error).__name__[:200]
        row.replies = [reply.to_json()]
        db.add(row)
        contact = find_contact(db, row.channel, row.sender)
        outgoing = [reply.to_json()]
        self._queue_replies(db, row, outgoing, contact.id if contact else None, self.clock(), None)

    def process_sender(self, channel: str, sender: str) -> int:
        """Process every pending message of one sender, oldest first; returns how many."""
        with self._lock_for(channel, sender):
            return self._drain(channel, sender)

    def _drain(self, channel: str, sender: str) -> int:
        count = 0
        while True:
            with self.db.read() as db:
                pending = inbound.pending_for(db, channel, sender)
            if not pending:
                return count
            for row in pending:
                self._process_one(row.id)
                count += 1

    def recover(self) -> int:
        """Process messages left unprocessed by a crash; returns how many.

        While the database is away this stops (logged once) and the next tick goes on.
        """
        done = 0
        try:
            with outage_guard():
                with self.db.read() as db:
                    senders = inbound.senders_with_pending(db)
                for channel, sender in senders:
                    done += self.process_sender(channel, sender)
        except StorageUnavailable:
            pass
        return done

    def _lock_for(self, channel: str, sender: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get((channel, sender))
            if lock is None:
                lock = threading.Lock()
                self._locks[(channel, sender)] = lock
            return lock

    def _redelivered(self, message: Incoming, *, duplicate: bool = True) -> Answered:
        with self.db.read() as db:
            stored = inbound.find(db, message.channel, message.external_id)
        replies = tuple(Rendered.from_json(r) for r in (stored.replies or [])) if stored else ()
        return Answered(replies, duplicate=duplicate)

    def _process_one(self, row_id: int | None) -> None:
        try:
            with self.db.write() as db:
                # Locked (PostgreSQL): a recovery tick in another worker may drain this sender.
                row = db.get(inbound.InboundMessage, row_id, with_for_update=True)
                if row is None or row.status != inbound.InboundStatus.RECEIVED:
                    return
                stored = inbound.payload_of(row, self.effects.cipher)
                self._answer(db, row, Incoming.from_payload(row, stored), None)
        except Exception as error:
            if is_outage(error):
                raise  # the message stays received: a redelivery or the next tick answers it
            # A fault in answering: kept as failed, and the person asked to send it again.
            log.exception("processing inbound message %s failed", row_id)
            self._mark_failed(row_id, error)

    def _answer(
        self,
        db: Session,
        row: inbound.InboundMessage,
        message: Incoming,
        handoff: HandOff | None,
    ) -> tuple[list[Rendered], list[OutboxMessage]]:
        """Answer ``row`` in ``db``'s transaction: the replies, and the outbox rows written
        claimed under ``handoff`` (for the channel to hand to the dispatcher)."""
        now = self.clock()
        language = normalize_locale(message.language)
        contact = get_or_create_contact(db, row.channel, row.sender, language=language)
        _lock_contact(db, contact, skip=self.db.is_sqlite)
        assert contact.id is not None
        if message.reachable and contact.stopped_at is not None:
            contact.stopped_at = None  # they wrote: they can be reached again
            db.add(contact)
        state = load_state(db, contact.id, self.effects.cipher)
        if message.meta.get("aside"):
            rendered = self._aside(db, row, message, contact, state.language if state else None)
        else:
            given = message.input
            if message.meta.get("numbered"):  # a channel without buttons: "2" may press one
                given = numbered.resolve(db, row, given, state, self.engine)
            pre = self._bind_village(db, contact, given)
            context = self._context(db, contact, now)
            sprint = self.engine.resume(state, given, context)
            replies = self._carry_out(db, sprint, contact, now, pre)
            save_state(
                db, contact.id, sprint.session, self.effects.cipher, now=now, ttl=self.session_ttl
            )
            rendered = [render(r, sprint.session.language) for r in replies]
            rendered = numbered.mark(rendered, sprint.session, self.engine)
        row.replies = [r.to_json() for r in rendered]
        row.status = inbound.InboundStatus.PROCESSED
        row.processed_at = now
        db.add(row)
        outgoing = [*message.ahead, *(r.to_json() for r in rendered)]
        handed = self._queue_replies(db, row, outgoing, contact.id, now, handoff)
        self._forget_anonymous(db, row)
        return rendered, handed

    def _forget_anonymous(self, db: Session, row: inbound.InboundMessage) -> None:
        """After an anonymous report (or a lookup of one): scrub the chat's messages of it,
        now that this one's replies are written (:mod:`bot.effect_kinds.reports`)."""
        reports.forget_if_asked(db, row, self.effects.cipher)

    def _queue_replies(
        self,
        db: Session,
        row: inbound.InboundMessage,
        payloads: list[dict[str, Any]],
        contact_id: int | None,
        now: datetime,
        handoff: HandOff | None,
    ) -> list[OutboxMessage]:
        """Channels that answer through the outbox (Telegram) get the replies queued.

        With a ``handoff`` and nothing else of the recipient in the outbox, the rows are
        written claimed and returned, opened, for the dispatcher; otherwise ``[]``.
        """
        if row.channel not in self.outbox_channels:
            return []
        if handoff is not None and not recipient_free(
            db, channel=row.channel, recipient=row.sender, worker=handoff.worker, now=now
        ):
            handoff = None
        claimed = (handoff.worker, handoff.lease_until) if handoff else None
        written = [
            enqueue(
                db,
                channel=row.channel,
                recipient=row.sender,
                contact_id=contact_id,
                payload=payload,
                priority=Priority.INTERACTIVE,
                now=now,
                claimed=claimed,
            )
            for payload in payloads
        ]
        if claimed is None:
            return []
        db.flush()  # the ids
        return [_opened(sealed, plain) for sealed, plain in zip(written, payloads, strict=True)]

    def _aside(
        self,
        db: Session,
        row: inbound.InboundMessage,
        message: Incoming,
        contact: Contact,
        language: str | None,
    ) -> list[Rendered]:
        """Not an answer (a photo, a voice note, a sticker): keep any file, acknowledge it.

        ``meta["aside"]`` names the acknowledgement; ``meta["attachment"]`` describes a
        file (:class:`intake.attachments.FileInfo`). The dialog stays where it was.
        """
        file = message.meta.get("attachment")
        if isinstance(file, dict):
            attachments.keep(
                db,
                channel=row.channel,
                external_id=row.external_id,
                contact_id=contact.id,
                file=attachments.FileInfo.from_json(file),
                cipher=self.effects.cipher,
                now=self.clock(),
            )
        reply = Reply((Text(str(message.meta["aside"])),))
        return [render(reply, language or contact.language)]

    def _context(self, db: Session, contact: Contact, now: datetime) -> Context:
        assert contact.id is not None
        return Context(
            now=now,
            villages=self.villages,
            session_ttl=self.session_ttl,
            draft=load_draft(db, contact.id, self.effects.cipher),
            known_village=contact.village_code,
            language=contact.language,
            helper=linked_helper(db, contact.channel, contact.external_id) is not None,
        )

    def _bind_village(self, db: Session, contact: Contact, given: Input) -> list[Reply]:
        """A deep link ``/start v_<village>`` binds the person to their village."""
        payload = given.payload or ""
        if not given.start or not payload.startswith(VILLAGE_PAYLOAD_PREFIX):
            return []
        code = payload[len(VILLAGE_PAYLOAD_PREFIX) :]
        village = next((v for v in self.villages if v.code == code), None)
        if village is None:
            return [Reply((Text("village.unknown"),))]
        contact.village_code = village.code
        db.add(contact)
        return [Reply((Text("village.bound", {"village": village.name}),))]

    def _carry_out(
        self, db: Session, sprint: Sprint, contact: Contact, now: datetime, pre: list[Reply]
    ) -> list[Reply]:
        replies = list(pre)
        for event in sprint.events:
            if isinstance(event, Reply):
                replies.append(event)
            else:
                replies.extend(self.effects.apply(db, event, contact, sprint.session, now))
                if event.name in FILING_EFFECTS:
                    attachments.link_to_latest_item(db, contact_id=contact.id, now=now)
        return replies

    def _mark_failed(self, row_id: int | None, error: Exception) -> None:
        with self.db.write() as db:
            row = db.get(inbound.InboundMessage, row_id)
            if row is None:
                return
            try:
                language = inbound.payload_of(row, self.effects.cipher).get("language")
            except Exception:  # an unreadable payload is why it failed: answer in Chinese
                language = None
            reply = render(Reply((Text("error.internal"),)), normalize_locale(language))
            self._fail(db, row, error, reply)


def _opened(row: OutboxMessage | None, payload: dict[str, Any]) -> OutboxMessage:
    """A detached copy of a row just written, with its payload in the clear (as a claim
    returns rows): the dispatcher sends from it without reading the row back."""
    assert row is not None
    copy = OutboxMessage.model_validate(row.model_dump())
    copy.payload = payload
    return copy


def _lock_contact(db: Session, contact: Contact, *, skip: bool) -> None:
    """Serialize one contact's processing across workers (PostgreSQL row lock)."""
    if skip:  # SQLite: BEGIN IMMEDIATE already holds the only write lock
        return
    db.exec(select(Contact.id).where(Contact.id == contact.id).with_for_update()).first()
