"""Expectations and observations of a scenario, and the figures every scenario reports.

* :class:`Expected`: each sent record run through the worker's own ingest step offline
  (:func:`streams.pipeline.ingest.ingest`, the step ``riskmon score`` uses): valid records and
  their districts, event keys as the history stores them, invalid records (dead letters to be).
  ``scores_at(code, at)`` is the offline scorer's result for a district at a given time.
* :class:`Observer`: reads riskmon.located, riskmon.deadletter and riskmon.scores from the
  beginning (no consumer group): which origins were located or dead-lettered, every score update.
* :func:`history`: what the sink stored (events, dead letters, score updates) in one epoch.
* :func:`tally`: sent, scored, dead-lettered, lost, double-counted, and why a check failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer

from indices import DistrictState
from streams.city.config import CityConfig
from streams.contract import DeadLetter, DistrictScores, LocatedEvent, ScoreUpdate
from streams.contract.deadletters import RawRecord
from streams.persistence.writes import event_key
from streams.pipeline.ingest import Kind, ingest
from streams.pipeline.scoring import build_scores, to_model_event
from streams.settings import Settings

from .stream import Sent

TOLERANCE = 1e-9
KIND_OF: dict[str, Kind] = {"incidents": "incident", "readings": "reading", "safety": "safety"}


@dataclass
class Expected:
    """What the worker must make of ``sent`` (each judged as read at ``received_at``)."""

    config: CityConfig
    valid: dict[str, LocatedEvent] = field(default_factory=dict)  # origin -> located
    invalid: dict[str, DeadLetter] = field(default_factory=dict)  # origin -> dead letter
    states: dict[str, DistrictState] = field(default_factory=dict)
    _scores: dict[tuple[str, datetime, int], DistrictScores] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rebuild()

    @classmethod
    def of(cls, config: CityConfig, sent: Iterable[Sent], received_at: datetime) -> Expected:
        made = cls(config)
        made.add(sent, received_at)
        return made

    def add(self, sent: Iterable[Sent], received_at: datetime) -> None:
        # The offline judgement logs what the worker logs (a traceback per `internal` dead
        # letter); the worker's own log has them, the suite's output does not need them twice.
        logging.getLogger("streams.pipeline.ingest").setLevel(logging.CRITICAL)
        for record in sent:
            raw = RawRecord(
                record.topic,
                record.partition,
                record.offset,
                record.record.key,
                record.record.value,
            )
            located = ingest(
                raw, KIND_OF[record.record.input], self.config.city, self.config.params, received_at
            )
            if isinstance(located, DeadLetter):
                self.invalid[record.origin] = located
            else:
                self.valid[record.origin] = located
        self._rebuild()

    def _rebuild(self) -> None:
        self.states = {code: DistrictState.new() for code in self.config.city.codes}
        for located in self.valid.values():
            self.states[located.district].apply(to_model_event(located.event), self.config.params)

    @property
    def event_keys(self) -> set[tuple[str, str, str]]:
        return {event_key(located)[:3] for located in self.valid.values()}

    def scores_at(self, code: str, at: datetime) -> DistrictScores:
        """The offline scorer's result for district ``code`` evaluated at ``at``."""
        key = (code, at, len(self.valid))
        if key not in self._scores:
            district = self.config.city.model_districts()[code]
            self._scores[key] = build_scores(district, self.states[code], self.config.params, at)
        return self._scores[key]

    def events_at(self, code: str, at: datetime) -> int:
        """Incidents the offline scorer counts for ``code`` at ``at`` (old ones fall out of
        its window: not every distinct incident sent counts)."""
        return self.scores_at(code, at).events


def compare(update: ScoreUpdate, offline: DistrictScores) -> list[str]:
    """Differences between a published update and the offline scores (to 1e-9); [] if equal."""
    out: list[str] = []
    if update.as_of != offline.as_of:
        out.append(f"as_of {update.as_of} != {offline.as_of}")
    fields = set(DistrictScores.model_fields) - {"contributors"}
    got = _flatten(update.model_dump(include=fields))
    want = _flatten(offline.model_dump(include=fields))
    for key in sorted(set(got) | set(want)):
        a, b = got.get(key), want.get(key)
        if isinstance(a, float) and isinstance(b, float):
            if abs(a - b) > TOLERANCE:
                out.append(f"{key}: published {a} offline {b}")
        elif a != b:
            out.append(f"{key}: published {a!r} offline {b!r}")
    return out


def _flatten(value: object, path: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        flat: dict[str, object] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{path}.{key}"))
        return flat
    return {path: value}


class Observer:
    """Reads the located, dead-letter and score topics from their beginning, in the background."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.located: Counter[str] = Counter()  # origin -> located records seen
        self.letters: Counter[str] = Counter()  # origin -> dead letters seen
        self.letter_errors: Counter[str] = Counter()
        self.letter_sizes: list[int] = []
        self.updates: list[tuple[float, ScoreUpdate]] = []  # (arrival monotonic time, update)
        self.latest: dict[str, ScoreUpdate] = {}
        self.undecodable: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        topics = self.settings.topics
        self._consumer = AIOKafkaConsumer(
            topics.located,
            topics.deadletter,
            topics.scores,
            bootstrap_servers=self.settings.require_bootstrap(),
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
            group_id=None,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            # aiokafka's stop can raise CancelledError from a fetch that was backing off
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._consumer.stop(), 15)

    async def _loop(self) -> None:
        assert self._consumer is not None
        topics = self.settings.topics
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            except Exception:  # the broker away (a scenario stops it): keep trying
                await asyncio.sleep(0.5)
                continue
            now = time.monotonic()
            for tp, records in batches.items():
                for record in records:
                    if record.value is not None:
                        self._take(tp.topic, record.value, now, topics.located, topics.scores)

    def _take(self, topic: str, value: bytes, now: float, located: str, scores: str) -> None:
        try:
            if topic == located:
                self.located[LocatedEvent.model_validate_json(value).origin] += 1
            elif topic == scores:
                update = ScoreUpdate.model_validate_json(value)
                self.updates.append((now, update))
                held = self.latest.get(update.district)
                if held is None or update.seq > held.seq:
                    self.latest[update.district] = update
            else:
                letter = DeadLetter.model_validate_json(value)
                self.letters[f"{letter.topic}/{letter.partition}/{letter.offset}"] += 1
                self.letter_errors[letter.error] += 1
                self.letter_sizes.append(len(value))
        except ValueError:
            self.undecodable[topic] += 1

    def caught_up(self, expected: Expected) -> bool:
        """Every valid origin located, every invalid one dead-lettered, and every district's
        newest update counting the incidents the offline scorer counts at its time."""
        if any(o not in self.located for o in expected.valid):
            return False
        if any(o not in self.letters for o in expected.invalid):
            return False
        return all(
            code in self.latest
            and self.latest[code].events == expected.events_at(code, self.latest[code].as_of)
            for code in expected.config.city.codes
        )

    async def settle(self, quiet_s: float = 4.0, within: float = 120.0) -> None:
        """Wait until ``quiet_s`` pass without an update other than a tick."""
        start = last = time.monotonic()
        seen = len(self.updates)
        while time.monotonic() - last < quiet_s and time.monotonic() - start < within:
            await asyncio.sleep(0.25)
            new = self.updates[seen:]
            seen += len(new)
            if any(u.reason != "tick" for _, u in new):
                last = time.monotonic()

    def first_update_after(self, moment: float, reason: str | None = None) -> float | None:
        """Arrival time of the first score update (with ``reason``, if given) after ``moment``
        (monotonic)."""
        for arrived, update in self.updates:
            if arrived > moment and (reason is None or update.reason == reason):
                return arrived
        return None


@dataclass
class History:
    events: set[tuple[str, str, str]]
    letters: set[str]
    updates: set[tuple[str, int]]
    # dead letters PostgreSQL refused (e.g. NUL in the reason): stored as `not_storable` rows of
    # riskmon.deadletter, holding the letter; the origins of the inputs they are about
    letters_indirect: set[str] = field(default_factory=set)


async def history(
    dsn: str, epoch: int | None = None, deadletter_topic: str | None = None
) -> History | None:
    """What the sink stored (in ``epoch``, or every epoch); None when PostgreSQL does not answer."""
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        where = "" if epoch is None else f" WHERE epoch = {int(epoch)}"
        events = await conn.fetch(f"SELECT kind, source, event_id FROM events{where}")
        letters = await conn.fetch(f'SELECT topic, partition, "offset" FROM dead_letters{where}')
        indirect: set[str] = set()
        if deadletter_topic is not None:
            rows = await conn.fetch(
                "SELECT value FROM dead_letters WHERE topic = $1 AND error = 'not_storable'",
                deadletter_topic,
            )
            for row in rows:
                with contextlib.suppress(ValueError):
                    letter = DeadLetter.model_validate_json(bytes(row[0]))
                    indirect.add(f"{letter.topic}/{letter.partition}/{letter.offset}")
        updates = await conn.fetch(
            "SELECT district, seq FROM score_updates WHERE series = 'live'"
            + ("" if epoch is None else f" AND epoch = {int(epoch)}")
        )
    except (OSError, asyncpg.PostgresError):
        return None
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
    return History(
        {(r[0], r[1], r[2]) for r in events},
        {f"{r[0]}/{r[1]}/{r[2]}" for r in letters},
        {(r[0], int(r[1])) for r in updates},
        indirect,
    )


def history_complete(stored: History | None, expected: Expected, observer: Observer) -> bool:
    if stored is None:
        return False
    published = {(u.district, u.seq) for _, u in observer.updates}
    return (
        expected.event_keys <= stored.events
        and set(expected.invalid) <= stored.letters | stored.letters_indirect
        and published <= stored.updates
    )


@dataclass
class Tally:
    """The figures of one scenario and the reasons it failed (empty: passed)."""

    sent: int = 0
    valid: int = 0
    scored: int = 0
    dead_lettered: int = 0
    lost: int = 0
    double_counted: int = 0
    failures: list[str] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)

    def figures(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "valid": self.valid,
            "scored": self.scored,
            "dead_lettered": self.dead_lettered,
            "lost": self.lost,
            "double_counted": self.double_counted,
        }


def tally(
    expected: Expected,
    observer: Observer,
    stored: History | None,
    sent: int,
    *,
    check_history: bool = True,
) -> Tally:
    """Count and check: located/dead-lettered per origin, every district's newest update against
    the offline scorer at its own ``as_of``, and the history tables against what was sent."""
    out = Tally(sent=sent, valid=len(expected.valid))
    out.scored = sum(1 for o in expected.valid if o in observer.located)
    out.dead_lettered = sum(1 for o in expected.invalid if o in observer.letters)
    not_located = [o for o in expected.valid if o not in observer.located]
    no_letter = [o for o in expected.invalid if o not in observer.letters]
    wrongly_lettered = [o for o in expected.valid if o in observer.letters]
    wrongly_located = [o for o in expected.invalid if o in observer.located]
    lost = len(not_located) + len(no_letter)
    double = 0
    mismatched: dict[str, list[str]] = {}
    counts: dict[str, dict[str, int]] = {}
    for code in expected.config.city.codes:
        update = observer.latest.get(code)
        if update is None:
            out.failures.append(f"district {code}: no score update at all")
            continue
        want = expected.events_at(code, update.as_of)
        lost += max(0, want - update.events)
        double += max(0, update.events - want)
        if update.events != want:
            counts[code] = {"published": update.events, "expected": want}
        diffs = compare(update, expected.scores_at(code, update.as_of))
        if diffs:
            mismatched[code] = diffs[:5]
    if not_located:
        out.failures.append(
            f"{len(not_located)} valid records never located, e.g. {not_located[:3]}"
        )
    if no_letter:
        out.failures.append(
            f"{len(no_letter)} invalid records without a dead letter, e.g. {no_letter[:3]}"
        )
    if wrongly_lettered:
        out.failures.append(
            f"{len(wrongly_lettered)} valid records dead-lettered, e.g. {wrongly_lettered[:3]}"
        )
    if wrongly_located:
        out.failures.append(
            f"{len(wrongly_located)} invalid records located, e.g. {wrongly_located[:3]}"
        )
    if counts:
        out.failures.append(f"incidents counted per district differ: {counts}")
    if mismatched:
        out.failures.append(
            f"{len(mismatched)} districts differ from the offline scorer: {mismatched}"
        )
    if check_history:
        if stored is None:
            out.failures.append("history: PostgreSQL did not answer")
        else:
            missing_events = expected.event_keys - stored.events
            extra_events = stored.events - expected.event_keys
            missing_letters = set(expected.invalid) - stored.letters - stored.letters_indirect
            indirect = set(expected.invalid) & stored.letters_indirect - stored.letters
            published = {(u.district, u.seq) for _, u in observer.updates}
            missing_updates = published - stored.updates
            lost += len(missing_events) + len(missing_letters)
            double += len(extra_events)
            out.details["history"] = {
                "events_stored": len(stored.events),
                "events_expected": len(expected.event_keys),
                "events_missing": len(missing_events),
                "events_unexpected": len(extra_events),
                "dead_letters_missing": len(missing_letters),
                "dead_letters_stored_only_as_not_storable": len(indirect),
                "score_updates_published": len(published),
                "score_updates_missing": len(missing_updates),
            }
            if missing_events or extra_events or missing_letters or missing_updates:
                out.failures.append(f"history differs from what was sent: {out.details['history']}")
    repeated = sum(n - 1 for n in observer.located.values() if n > 1)
    out.details["located_redelivered"] = repeated
    out.details["dead_letter_errors"] = dict(observer.letter_errors)
    if observer.undecodable:
        out.details["undecodable_on_topics"] = dict(observer.undecodable)
    out.lost, out.double_counted = lost, double
    if lost:
        out.failures.append(f"lost {lost}")
    if double:
        out.failures.append(f"double-counted {double}")
    return out
