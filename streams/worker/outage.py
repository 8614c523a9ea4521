"""When checkpoint saves fail: :class:`SaveOutage`, the state of a run of failures (pure), and
the clock the worker's stages read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SaveOutage:
    """Checkpoint saves failing since ``since`` (None: they are not), ``failures`` in a row.

    The first failure of an outage is logged, the others only counted (the metric counts each);
    the recovery is logged once.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> first = SaveOutage().failed(t)
    >>> first.failing, first.log_failure, first.failed(t).log_failure
    (True, True, False)
    >>> SaveOutage().failed(t).failed(t).failures, SaveOutage().failing
    (2, False)
    """

    since: datetime | None = None
    failures: int = 0

    @property
    def failing(self) -> bool:
        return self.since is not None

    @property
    def log_failure(self) -> bool:
        """Whether the failure that made this state is the outage's first (to be logged)."""
        return self.failures == 1

    def failed(self, now: datetime) -> SaveOutage:
        return SaveOutage(self.since or now, self.failures + 1)

    def seconds(self, now: datetime) -> float:
        return 0.0 if self.since is None else (now - self.since).total_seconds()
