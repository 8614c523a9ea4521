"""The gateway's pure core: latest score per district, snapshots, one coalescing queue per client.

No sockets, no asyncio, no clock of its own: the I/O shell (:mod:`dashboard_ws.server`) feeds
updates in with :meth:`Hub.ingest` or :meth:`Hub.offer`, takes each client's next message with
:meth:`Hub.pop_next` (passing the time) and sends the strings the hub hands out. Every update is
encoded to JSON once, however many clients receive it, and a ``scores`` message with the same
districts is built once for every client that takes it before the next update.

A client's life, checked against :data:`TRANSITIONS`::

    CONNECTING --take_snapshot--> SNAPSHOT_SENT --go_live--> LIVE
         |                             |                      |
         +---------- remove_client ----+----------------------+--> CLOSED

Snapshot versus live: a client's queue starts filling at :meth:`Hub.take_snapshot`, in the same
step that builds the snapshot. An update accepted before that step is in the snapshot; one
accepted after it waits in the queue until the client is live. Nothing falls between the two, and
because the hub accepts a district's update only when its ``seq`` is higher than the one it holds,
the ``seq`` of a district never goes backwards for a client.

Coalesced scores: score updates are not queued one by one. A client's queue holds one *scores
slot* and the set of districts changed since its last ``scores`` message
(:class:`~streams.contract.ScoresMessage`); when the slot comes up, the client gets one message
with the newest state of each of those districts, at most one per ``coalesce_s`` (the slot waits
at the head of the queue until then, and districts changed meanwhile join it). An update of a
district already waiting is counted in :attr:`HubStats.coalesced`. So a client that cannot keep
up costs at most one entry per district and, once it catches up, sees every district's latest
value, never a backlog. The updates it missed still explain the change: their drivers are
appended to the latest one's in what that client gets (the hub remembers, per district, the
seq each waiting client was sent last and the drivers of the last few updates); a client that
missed nothing gets the update as it came, so clients that keep up share one encoded message.
Alerts and answers keep their own entries and their order around the slot; a newer message of
the same alert replaces the pending one (it moves to the end).

Answers to one client (:meth:`Hub.tell`) are bounded too: at most ``max_answers`` wait at once;
one more raises :class:`QueueFull`, and the shell closes that client (it sends requests faster
than it reads their answers).

Forged records: a score whose ``seq`` (microseconds of the worker's clock) lies beyond the
``max_seq`` the shell passes (now plus the allowed clock skew), or an alert whose ``seq`` jumps
more than :data:`ALERT_SEQ_STEP` past the one held, is refused as FUTURE: accepting it would make
every later genuine update of that district or alert look stale, freezing it on every screen.
(Kafka ACLs keep forgers off the topics; this keeps one bad record from doing lasting harm.)

Errors::

    GatewayError
     ├── UnknownClient       the client id was never added, or was removed
     ├── InvalidTransition   the client's state does not allow the operation
     └── QueueFull           too many answers wait for one client
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, NewType

from pydantic import ValidationError

from streams.contract import (
    Alert,
    AlertMessage,
    Driver,
    ScoreUpdate,
    SnapshotMessage,
    scores_frame,
)
from streams.contract.base import read_internal
from streams.errors import RiskmonError

__all__ = [
    "TRANSITIONS",
    "ClientId",
    "ClientState",
    "GatewayError",
    "Hub",
    "HubStats",
    "InvalidTransition",
    "NotYet",
    "Offer",
    "Outcome",
    "Outgoing",
    "QueueFull",
    "UnknownClient",
    "check_transition",
]

ClientId = NewType("ClientId", int)

MAX_CARRIED_DRIVERS = 50  # drivers of coalesced updates carried into the newest, per district
DRIVER_HISTORY = 8  # updates per district whose drivers are kept for clients that missed them
ALERT_SEQ_STEP = 1000  # an alert's life has a handful of transitions, never this many
MAX_ANSWERS = 256
COALESCE_S = 0.1
SCORES_KEY = "scores"  # the key of a client's scores slot
MAX_SHARED_FRAMES = 64  # scores messages kept for other clients until the next update


class ClientState(enum.Enum):
    """Where a websocket client is in its life."""

    CONNECTING = "connecting"
    """Accepted; receives nothing until its snapshot is taken."""
    SNAPSHOT_SENT = "snapshot_sent"
    """Snapshot handed to the shell; updates accepted since then wait in the client's queue."""
    LIVE = "live"
    """Snapshot delivered; the shell takes queued messages with :meth:`Hub.pop_next`."""
    CLOSED = "closed"
    """Gone; the hub has forgotten it."""


TRANSITIONS: Final[Mapping[ClientState, frozenset[ClientState]]] = MappingProxyType(
    {
        ClientState.CONNECTING: frozenset({ClientState.SNAPSHOT_SENT, ClientState.CLOSED}),
        ClientState.SNAPSHOT_SENT: frozenset({ClientState.LIVE, ClientState.CLOSED}),
        ClientState.LIVE: frozenset({ClientState.CLOSED}),
        ClientState.CLOSED: frozenset(),
    }
)


class GatewayError(RiskmonError):
    """Root of the gateway's errors; each one is a bug in the caller, not a condition to retry."""

    retriable = False


class UnknownClient(GatewayError):
    """The client id was never returned by :meth:`Hub.add_client`, or was removed since."""

    retriable = False


class QueueFull(GatewayError):
    """Too many answers wait for one client: it asks faster than it reads."""

    retriable = False


class InvalidTransition(GatewayError):
    """The client's state does not allow the operation; :data:`TRANSITIONS` lists what does."""

    retriable = False

    def __init__(self, current: ClientState, wanted: ClientState) -> None:
        allowed = ", ".join(sorted(s.name for s in TRANSITIONS[current])) or "nothing"
        super().__init__(
            f"a {current.name} client cannot become {wanted.name} (allowed: {allowed})"
        )
        self.current = current
        self.wanted = wanted


def check_transition(current: ClientState, wanted: ClientState) -> None:
    """Raise :class:`InvalidTransition` unless :data:`TRANSITIONS` allows ``current -> wanted``.

    >>> check_transition(ClientState.CONNECTING, ClientState.SNAPSHOT_SENT)
    >>> check_transition(ClientState.LIVE, ClientState.CONNECTING)
    Traceback (most recent call last):
    ...
    dashboard_ws.hub.InvalidTransition: a LIVE client cannot become CONNECTING (allowed: CLOSED)
    """
    if wanted not in TRANSITIONS[current]:
        raise InvalidTransition(current, wanted)


class Outcome(enum.Enum):
    """What the hub did with one record of the scores topic."""

    ACCEPTED = "accepted"
    STALE = "stale"
    """Its seq was not above the one held for its district; dropped."""
    INVALID = "invalid"
    """Not a ScoreUpdate; dropped."""
    FUTURE = "future"
    """Its seq lies implausibly far ahead (a forged or corrupt record); dropped."""


@dataclass(frozen=True, slots=True)
class Offer:
    """The result of :meth:`Hub.offer` / :meth:`Hub.ingest`.

    Wake the writers of the clients in ``wake``: their queue was empty and now holds a message.
    ``reason`` says why an INVALID record was dropped; log it.
    """

    outcome: Outcome
    district: str | None = None
    seq: int | None = None
    wake: tuple[ClientId, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One encoded message (scores, alert, or an answer to one client): send ``text`` as a text
    frame."""

    text: str
    key: str
    """``scores``, ``alert:<id>``, or the key of an answer (:meth:`Hub.tell`): a newer message
    with the same key replaces this one in a slow client's queue."""
    updates: int = 0
    """How many district updates a ``scores`` message carries (0 for the others)."""


@dataclass(frozen=True, slots=True)
class NotYet:
    """The client's next message is a ``scores`` message not due yet: call
    :meth:`Hub.pop_next` again after ``wait_s`` seconds (no update wakes the writer meanwhile:
    its queue is not empty)."""

    wait_s: float


@dataclass(slots=True)
class HubStats:
    """Counters since the hub was made; read them for metrics, never write them."""

    accepted: int = 0
    stale: int = 0
    invalid: int = 0
    coalesced: int = 0
    """Updates of a district, or messages of an alert, that replaced one still waiting for a
    client (per client)."""
    frames_built: int = 0
    """``scores`` messages encoded; those sent beyond it were shared between clients."""
    future: int = 0
    """Records refused because their seq lay implausibly far ahead."""


@dataclass(slots=True)
class _Client:
    state: ClientState = ClientState.CONNECTING
    # key -> newest message not yet handed out (None: the scores slot); dict order is delivery
    # order. The scores slot is in it exactly when ``dirty`` is not empty.
    pending: dict[str, Outgoing | None] = field(default_factory=dict)
    # districts changed since its last scores message -> the seq it was sent last (0: none)
    dirty: dict[str, int] = field(default_factory=dict)
    answers: int = 0  # entries of pending that are answers (Hub.tell), not scores or alerts
    scores_due: datetime | None = None  # not before this may its next scores message go


class Hub:
    """Latest :class:`~streams.contract.ScoreUpdate` per district and the clients that follow them.

    Drive one client like this (the shell's websocket writer does)::

        cid = hub.add_client()
        send(hub.take_snapshot(cid))          # first frame: the snapshot
        hub.go_live(cid)
        while connected:
            out = hub.pop_next(cid, now)
            if isinstance(out, Outgoing):
                send(out.text)
            elif isinstance(out, NotYet):
                sleep(out.wait_s)             # a scores message waits for its turn
            else:
                wait until an Offer lists cid in ``wake``
        hub.remove_client(cid)                # always, e.g. in ``finally``

    >>> hub = Hub()
    >>> cid = hub.add_client()
    >>> hub.take_snapshot(cid)
    '{"type":"snapshot","districts":[],"alerts":[]}'
    >>> hub.state(cid)
    <ClientState.SNAPSHOT_SENT: 'snapshot_sent'>
    """

    def __init__(self, max_answers: int = MAX_ANSWERS, coalesce_s: float = COALESCE_S) -> None:
        if coalesce_s <= 0:
            raise ValueError("coalesce_s must be positive")
        self.max_answers = max_answers
        self.coalesce_s = coalesce_s
        self._interval = timedelta(seconds=coalesce_s)
        self._latest: dict[str, ScoreUpdate] = {}
        # district -> (seq, drivers) of its last DRIVER_HISTORY updates, the latest included
        self._history: dict[str, deque[tuple[int, tuple[Driver, ...]]]] = {}
        # district -> {seq the client had (-1: the one before the latest) -> JSON of the latest
        # update as that client gets it}, once needed
        self._encoded: dict[str, dict[int, str]] = {}
        # scores messages built since the last update, by (district, seq the client had)
        self._frames: dict[frozenset[tuple[str, int]], str] = {}
        self._alerts: dict[str, Alert] = {}  # open alerts by id
        self._alert_seq: dict[str, int] = {}  # newest seq seen per alert id, resolved ones too
        self._clients: dict[ClientId, _Client] = {}
        self._next_id = 0
        self._snapshot_text: str | None = None  # cached until the next accepted update
        self.stats = HubStats()

    # --- updates --------------------------------------------------------------------------------

    def ingest(self, raw: bytes | None, *, max_seq: int | None = None) -> Offer:
        """Decode one record value of the scores topic and :meth:`offer` it.

        A value that is not a valid ScoreUpdate is counted and returned as INVALID with a
        ``reason``; it never raises.
        """
        if raw is None:
            self.stats.invalid += 1
            return Offer(Outcome.INVALID, reason="empty value (tombstone)")
        try:
            update = read_internal(ScoreUpdate, raw)
        except ValidationError as exc:
            self.stats.invalid += 1
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "value"
            return Offer(Outcome.INVALID, reason=f"{where}: {first['msg']}")
        return self.offer(update, max_seq=max_seq)

    def offer(self, update: ScoreUpdate, *, max_seq: int | None = None) -> Offer:
        """Keep ``update`` if its seq is above the one held for its district (and not above
        ``max_seq``), and mark its district changed for every client past CONNECTING (a
        CONNECTING client gets it in its snapshot)."""
        if max_seq is not None and update.seq > max_seq:
            self.stats.future += 1
            return Offer(Outcome.FUTURE, update.district, update.seq, reason="seq in the future")
        district = update.district
        held = self._latest.get(district)
        if held is not None and update.seq <= held.seq:
            self.stats.stale += 1
            return Offer(Outcome.STALE, district, update.seq)
        self.stats.accepted += 1
        self._latest[district] = update
        history = self._history.get(district)
        if history is None:
            history = self._history[district] = deque(maxlen=DRIVER_HISTORY)
        history.append((update.seq, tuple(update.drivers)))
        self._encoded.pop(district, None)
        self._frames.clear()
        self._snapshot_text = None
        had = 0 if held is None else held.seq  # what a client not yet marked was sent last
        wake: list[ClientId] = []
        coalesced = 0
        for cid, client in self._clients.items():
            dirty = client.dirty
            if district in dirty:
                coalesced += 1
                continue
            if client.state is ClientState.CONNECTING:
                continue
            if not dirty:
                pending = client.pending
                if not pending:
                    wake.append(cid)
                pending[SCORES_KEY] = None  # the slot joins the end of the queue
            dirty[district] = had
        self.stats.coalesced += coalesced
        return Offer(Outcome.ACCEPTED, district, update.seq, tuple(wake))

    def ingest_alert(self, raw: bytes | None) -> Offer:
        """Decode one record value of the alerts topic and :meth:`offer_alert` it (never raises)."""
        try:
            alert = read_internal(Alert, raw or b"")
        except ValidationError as exc:
            self.stats.invalid += 1
            return Offer(Outcome.INVALID, reason=f"not an alert: {exc.errors()[0]['msg']}")
        return self.offer_alert(alert)

    def offer_alert(self, alert: Alert) -> Offer:
        """Keep ``alert`` if its seq is above the one seen for its id, and queue it for clients.

        Open alerts (pending, firing, acknowledged) are part of the snapshot; a resolved one
        (withdrawn before firing included) is forwarded, then forgotten.
        """
        held = self._alert_seq.get(alert.id)
        if alert.seq > (held or 0) + ALERT_SEQ_STEP:
            self.stats.future += 1
            return Offer(Outcome.FUTURE, alert.district, alert.seq, reason="seq jumps too far")
        if held is not None and alert.seq <= held:
            self.stats.stale += 1
            return Offer(Outcome.STALE, alert.district, alert.seq)
        self._alert_seq[alert.id] = alert.seq
        self.stats.accepted += 1
        if alert.state == "resolved":
            self._alerts.pop(alert.id, None)
        else:
            self._alerts[alert.id] = alert
        wake = self._queue(f"alert:{alert.id}", lambda: AlertMessage(alert=alert).model_dump_json())
        return Offer(Outcome.ACCEPTED, alert.district, alert.seq, wake)

    def open_alerts(self) -> list[Alert]:
        """Alerts not yet resolved, oldest first."""
        return sorted(self._alerts.values(), key=lambda a: (a.opened_at, a.id))

    def _queue(self, key: str, encode: Callable[[], str]) -> tuple[ClientId, ...]:
        """Queue one message under ``key`` for every client past CONNECTING; returns whom to
        wake. Encoded once, and only if some client takes it; a pending message with the same
        key is replaced (coalesced)."""
        self._snapshot_text = None
        out: Outgoing | None = None
        wake: list[ClientId] = []
        for cid, client in self._clients.items():
            if client.state is ClientState.CONNECTING:
                continue
            if out is None:
                out = Outgoing(encode(), key)
            if not client.pending:
                wake.append(cid)
            elif client.pending.pop(key, None) is not None:
                self.stats.coalesced += 1
            client.pending[key] = out  # at the end: delivered after older keys
        return tuple(wake)

    def tell(self, cid: ClientId, key: str, text: str) -> bool:
        """Queue ``text`` for one client only (an answer to its request), under a ``key`` no
        other message uses; returns True when its writer must be woken. A client not yet LIVE
        gets it after its snapshot. Raises :class:`QueueFull` when ``max_answers`` already wait."""
        client = self._get(cid)
        wake = not client.pending
        if client.pending.pop(key, None) is None:
            if client.answers >= self.max_answers:
                raise QueueFull(f"{client.answers} answers wait for client {cid}")
            client.answers += 1
        client.pending[key] = Outgoing(text, key)
        return wake

    def has_client(self, cid: ClientId) -> bool:
        return cid in self._clients

    def latest(self, district: str) -> ScoreUpdate | None:
        """The update held for ``district``, or None."""
        return self._latest.get(district)

    def snapshot(self) -> SnapshotMessage:
        """Every district's latest update, sorted by district code, and the open alerts."""
        return SnapshotMessage(
            districts=[self._latest[code] for code in sorted(self._latest)],
            alerts=self.open_alerts(),
        )

    @property
    def district_count(self) -> int:
        return len(self._latest)

    # --- clients --------------------------------------------------------------------------------

    def add_client(self) -> ClientId:
        """Register a new client in CONNECTING; call :meth:`remove_client` when it goes."""
        self._next_id += 1
        cid = ClientId(self._next_id)
        self._clients[cid] = _Client()
        return cid

    def take_snapshot(self, cid: ClientId) -> str:
        """The encoded snapshot the client must receive first; its queue starts filling now."""
        self._move(cid, ClientState.SNAPSHOT_SENT)  # its queue holds only answers (tell)
        if self._snapshot_text is None:
            self._snapshot_text = self.snapshot().model_dump_json()
        return self._snapshot_text

    def go_live(self, cid: ClientId) -> None:
        """Call once the snapshot is written; then take queued messages with :meth:`pop_next`."""
        self._move(cid, ClientState.LIVE)

    def pop_next(self, cid: ClientId, now: datetime) -> Outgoing | NotYet | None:
        """The next message for a LIVE client, :class:`NotYet` when it is a ``scores`` message
        whose time has not come (``coalesce_s`` after the client's previous one), or None when
        the client is idle. ``now`` is the gateway's clock; a clock set back does not hold a
        client's scores longer than ``coalesce_s``."""
        client = self._get(cid)
        if client.state is not ClientState.LIVE:
            raise InvalidTransition(client.state, ClientState.LIVE)
        pending = client.pending
        if not pending:
            return None
        key = next(iter(pending))
        if key != SCORES_KEY:
            out = pending.pop(key)
            assert out is not None
            if not key.startswith("alert:"):
                client.answers -= 1
            return out
        due = client.scores_due
        if due is not None and due > now:
            wait = (due - now).total_seconds()
            if wait <= self.coalesce_s:
                return NotYet(wait)
        del pending[SCORES_KEY]
        districts = client.dirty
        client.dirty = {}
        client.scores_due = now + self._interval
        return Outgoing(self._scores_text(districts, now), SCORES_KEY, len(districts))

    def _scores_text(self, districts: Mapping[str, int], now: datetime) -> str:
        """The ``scores`` message of ``districts``' latest updates, each carrying the drivers
        of the updates the client missed (it was sent ``districts[d]`` last); clients that take
        the same districts from the same point before the next update get the same text."""
        key = frozenset(districts.items())
        text = self._frames.get(key)
        if text is not None:
            return text
        parts = [self._part(district, districts[district]) for district in sorted(districts)]
        text = scores_frame(now, parts)
        self.stats.frames_built += 1
        if len(self._frames) < MAX_SHARED_FRAMES:
            self._frames[key] = text
        return text

    def _part(self, district: str, had: int) -> str:
        """The JSON of ``district``'s latest update for a client that was sent seq ``had``
        last: with the drivers of the updates in between appended (newest first, at most
        :data:`MAX_CARRIED_DRIVERS` in all), so every change it sees stays explained by the
        events that caused it. Only the last :data:`DRIVER_HISTORY` updates are remembered; a
        client further behind gets the drivers of those."""
        latest = self._latest[district]
        missed = [drivers for seq, drivers in self._history[district] if had < seq < latest.seq]
        variant = had if missed else -1
        parts = self._encoded.setdefault(district, {})
        part = parts.get(variant)
        if part is None:
            update = latest
            if missed:
                named = {d.event_id for d in latest.drivers}
                carried: list[Driver] = []
                for drivers in reversed(missed):
                    for driver in drivers:
                        if driver.event_id not in named:
                            named.add(driver.event_id)
                            carried.append(driver)
                if carried:
                    kept = [*latest.drivers, *carried][:MAX_CARRIED_DRIVERS]
                    update = latest.model_copy(update={"drivers": kept})
            part = parts[variant] = update.model_dump_json()
        return part

    def remove_client(self, cid: ClientId) -> None:
        """Mark the client CLOSED and forget it and its queue; call it exactly once per client."""
        self._move(cid, ClientState.CLOSED)
        del self._clients[cid]

    def state(self, cid: ClientId) -> ClientState:
        return self._get(cid).state

    def pending_count(self, cid: ClientId) -> int:
        """What waits for the client: changed districts (at most one each), alerts (at most one
        each) and answers."""
        client = self._get(cid)
        return len(client.pending) - (SCORES_KEY in client.pending) + len(client.dirty)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def _get(self, cid: ClientId) -> _Client:
        try:
            return self._clients[cid]
        except KeyError:
            raise UnknownClient(f"no client {cid}: never added, or removed") from None

    def _move(self, cid: ClientId, wanted: ClientState) -> _Client:
        client = self._get(cid)
        check_transition(client.state, wanted)
        client.state = wanted
        return client
