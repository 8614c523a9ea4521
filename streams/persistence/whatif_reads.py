"""The policy map's reading side: each district's newest index state, from the worker's
checkpoints (``scorer_checkpoints``, written by :mod:`streams.persistence.checkpoints`). Read only.

A checkpoint row holds one located partition's scorer: ``{"model_fingerprint": ...,
"districts": {code: {"state": DistrictState.to_dict(), ...}}}`` (see
:meth:`streams.pipeline.scoring.PartitionScorer.to_checkpoint`). A row saved under another model
(its ``model_fingerprint`` differs from the reader's parameters) or whose state cannot be read is
skipped, with the reason in :attr:`CheckpointStates.skipped`: its decayed sums were computed with
other half-lives, so a what-if on it would mix two models. A district held by two rows (after a
change of ``RISKMON_PARTITIONS``, before the old row is overwritten) takes the newest row's state.

:class:`CheckpointCache` keeps parsed states between requests and re-reads only the rows whose
``saved_at`` moved.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import asyncpg

from indices import DistrictState, IndicesError, ModelParams
from streams.city.config import CityConfig
from streams.contract import WhatIfBasis, WhatIfResponse
from streams.errors import RiskmonError
from streams.pipeline.scoring import model_fingerprint
from streams.pipeline.whatif import WhatIfRefused, make_change, whatif_response

log = logging.getLogger(__name__)

__all__ = [
    "CheckpointCache",
    "CheckpointStates",
    "NoCheckpoint",
    "WhatIfRefused",
    "load_states",
    "whatif_from_checkpoints",
]


class NoCheckpoint(RiskmonError):
    """No checkpoint of the worker can be used (none saved yet, or all under another model):
    there is no state to change. Retry once the worker has run and saved."""

    retriable = True


@dataclass(frozen=True)
class CheckpointStates:
    """The newest state of each district found, the oldest ``saved_at`` among the rows used
    (None if no row was used) and why rows were skipped (partition -> reason)."""

    states: dict[str, DistrictState]
    saved_at: datetime | None
    skipped: dict[int, str] = field(default_factory=dict)


@dataclass
class _Row:
    saved_at: datetime
    states: dict[str, DistrictState] | None  # None: skipped
    reason: str = ""


async def load_states(
    conn: asyncpg.Connection, app_id: str, topic: str, params: ModelParams
) -> CheckpointStates:
    """Every district's newest state from the checkpoints of ``app_id`` on ``topic`` (the
    worker's ``RISKMON_APP_ID`` and located topic), made under the model of ``params``."""
    return await CheckpointCache(app_id, topic, params, max_age_s=0.0).states(conn)


class CheckpointCache:
    """Parsed checkpoint states of one worker, reloaded when a row changes.

    Each :meth:`states` lists the rows' ``saved_at`` (one small query) and reads and parses only
    rows that changed; within ``max_age_s`` of the last look (default 0: always look) it answers
    from memory without a query. Memory: one parsed state per district.
    """

    def __init__(
        self, app_id: str, topic: str, params: ModelParams, max_age_s: float = 0.0
    ) -> None:
        self.app_id = app_id
        self.topic = topic
        self.fingerprint = model_fingerprint(params)
        self.max_age_s = max_age_s
        self._rows: dict[int, _Row] = {}
        self._looked: float | None = None
        self._answer: CheckpointStates | None = None

    async def states(self, conn: asyncpg.Connection) -> CheckpointStates:
        now = time.monotonic()
        if (
            self._answer is not None
            and self._looked is not None
            and now - self._looked < self.max_age_s
        ):
            return self._answer
        listed = await conn.fetch(
            "SELECT partition, saved_at FROM scorer_checkpoints WHERE app_id = $1 AND topic = $2",
            self.app_id,
            self.topic,
        )
        current = {int(r["partition"]): r["saved_at"] for r in listed}
        self._rows = {p: row for p, row in self._rows.items() if p in current}
        for partition, saved_at in sorted(current.items()):
            row = self._rows.get(partition)
            if row is None or row.saved_at != saved_at:
                self._rows[partition] = await self._read(conn, partition)
        self._looked = now
        self._answer = _merge(self._rows)
        return self._answer

    async def _read(self, conn: asyncpg.Connection, partition: int) -> _Row:
        record = await conn.fetchrow(
            "SELECT saved_at, state FROM scorer_checkpoints "
            "WHERE app_id = $1 AND topic = $2 AND partition = $3",
            self.app_id,
            self.topic,
            partition,
        )
        if record is None:  # deleted between the two queries
            return _Row(datetime.min, None, "gone")
        saved_at: datetime = record["saved_at"]
        try:
            data = json.loads(record["state"])
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return _Row(saved_at, *_parse(data, self.fingerprint))
        except (IndicesError, TypeError, ValueError, KeyError) as exc:
            log.warning("whatif_checkpoint_unreadable partition=%s error=%r", partition, exc)
            return _Row(saved_at, None, f"unreadable: {exc}")


def _parse(
    data: Mapping[str, Any], fingerprint: str
) -> tuple[dict[str, DistrictState] | None, str]:
    found = data.get("model_fingerprint")
    if found != fingerprint:
        return None, (
            f"saved under another model ({data.get('model_version')}, fingerprint {found}; "
            f"this one is {fingerprint})"
        )
    districts = data["districts"]
    if not isinstance(districts, dict):
        raise TypeError("districts is not an object")
    return {code: DistrictState.from_dict(entry["state"]) for code, entry in districts.items()}, ""


def _merge(rows: Mapping[int, _Row]) -> CheckpointStates:
    states: dict[str, DistrictState] = {}
    stamp: dict[str, datetime] = {}
    used: list[datetime] = []
    skipped: dict[int, str] = {}
    for partition, row in sorted(rows.items()):
        if row.states is None:
            skipped[partition] = row.reason
            continue
        used.append(row.saved_at)
        for code, state in row.states.items():
            if code not in stamp or row.saved_at > stamp[code]:
                states[code], stamp[code] = state, row.saved_at
    return CheckpointStates(states, min(used) if used else None, skipped)


def whatif_from_checkpoints(
    found: CheckpointStates,
    config: CityConfig,
    query: tuple[str, int, str | None, str | None],
    at: datetime,
    *,
    only: str | None = None,
    by: Literal["risk", "safety"] = "risk",
    detail: str = "the worker's checkpoints",
) -> WhatIfResponse:
    """The what-if ``query`` (change, count, structure, grade) on checkpointed states, evaluated
    at ``at``. Pure CPU: run it outside the event loop for large states. Raises
    :class:`WhatIfRefused` (bad change, unknown structure) or :class:`NoCheckpoint`."""
    if not found.states:
        why = "; ".join(f"partition {p}: {r}" for p, r in sorted(found.skipped.items()))
        raise NoCheckpoint("no usable checkpoint of the worker yet" + (f" ({why})" if why else ""))
    change = make_change(*query)
    codes = config.city.codes
    basis = WhatIfBasis(
        source="checkpoints",
        detail=detail,
        saved_at=found.saved_at,
        empty=[code for code in codes if code not in found.states],
    )
    return whatif_response(
        config.city.model_districts(),
        found.states,
        config.params,
        change,
        at,
        basis,
        only=only,
        by=by,
    )
