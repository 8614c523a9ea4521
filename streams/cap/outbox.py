"""Public warnings out: from a sustained riskmon alert to the CAP messages an operator approves.

Pure: the clock, the earlier publications and the operator's edits are arguments. The gateway's
CAP routes (:mod:`dashboard_ws.capout`) draft with :func:`compose` (``status="Draft"``), show the
XML, and on approval compose again with ``status="Actual"``, check it with :func:`checked` and
publish it to ``riskmon.cap-out``. The chain of one alert:

* the first approval is an ``Alert``; every later one an ``Update`` whose ``references`` name
  **every** earlier message of the chain (CAP 1.2 §3.2.1: the full chain, so a receiver that
  missed one still links them);
* once riskmon's alert resolved, the next approval is the **all-clear**: an ``Update`` with
  ``urgency`` ``Past`` and ``responseType`` ``AllClear`` (what :func:`draft_from_alert` writes
  for a resolved alert), after which the chain is closed;
* identifiers are ``riskmon-ALERTID-N`` (N = 1, 2, ... along the chain): stable, unique per
  message, so re-approving after a lost answer can be recognised.

``expires`` comes from the model's decay: the moment the alert's domain has decayed through
:data:`EXPIRY_HALF_LIVES` half-lives from now (a quarter of today's incident load left), unless
the operator sets it.

>>> from datetime import datetime, UTC
>>> sustained_for(datetime(2026, 7, 1, 5, 0, tzinfo=UTC), datetime(2026, 7, 1, 5, 10, tzinfo=UTC))
600.0
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from indices import ModelParams
from indices.taxonomy import DOMAINS
from streams.cap.build import draft_from_alert
from streams.cap.errors import CapInvalid
from streams.cap.model import CapAlert, CapInfo, ParsedCap, Reference
from streams.cap.parse import parse_cap
from streams.cap.write import write_cap
from streams.city.map import CityMap
from streams.contract.alerts import Alert
from streams.errors import RiskmonError

__all__ = [
    "EXPIRY_HALF_LIVES",
    "MAX_TEXT",
    "ChainClosed",
    "DraftEdits",
    "Published",
    "checked",
    "compose",
    "expires_from_model",
    "sustained_for",
]

EXPIRY_HALF_LIVES: Final = 2.0
MAX_TEXT: Final = {"headline": 160, "description": 2000, "instruction": 1000}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ChainClosed(RiskmonError, ValueError):
    """The alert's chain already ended with its all-clear: nothing more to publish."""

    retriable = False


@dataclass(frozen=True)
class Published:
    """A message of the chain already published: what a later Update references."""

    identifier: str
    sender: str
    sent: datetime
    all_clear: bool = False


@dataclass(frozen=True)
class DraftEdits:
    """What an operator may change before approving; ``None`` keeps riskmon's text.

    Texts are per language (``"ko"``, ``"en"``), bounded by :data:`MAX_TEXT` and free of control
    characters (they become XML text); ``expires`` must lie after the message is sent.
    """

    headline: dict[str, str] = dataclasses.field(default_factory=dict)
    description: dict[str, str] = dataclasses.field(default_factory=dict)
    instruction: dict[str, str] = dataclasses.field(default_factory=dict)
    expires: datetime | None = None

    def problems(self, sent: datetime) -> list[str]:
        """Why these edits cannot be used (empty: they can)."""
        found = []
        for name in ("headline", "description", "instruction"):
            texts: dict[str, str] = getattr(self, name)
            for language, text in texts.items():
                where = f"{name}.{language}"
                if language not in ("ko", "en"):
                    found.append(f"{where}: the languages are ko and en")
                elif len(text) > MAX_TEXT[name]:
                    found.append(f"{where}: at most {MAX_TEXT[name]} characters")
                elif _CONTROL.search(text):
                    found.append(f"{where}: control characters are not allowed")
                elif name == "headline" and not text.strip():
                    found.append(f"{where}: a headline cannot be empty")
        if self.expires is not None:
            if self.expires.tzinfo is None:
                found.append("expires: give a time with its offset")
            elif self.expires <= sent:
                found.append("expires: must lie after the message is sent")
            elif self.expires > sent + timedelta(days=7):
                found.append("expires: at most 7 days ahead")
        return found

    def apply(self, info: CapInfo) -> CapInfo:
        language = "ko" if info.language.startswith("ko") else "en"
        changes: dict[str, object] = {}
        for name in ("headline", "description", "instruction"):
            texts: dict[str, str] = getattr(self, name)
            text = texts.get(language)
            if text is not None:
                changes[name] = text.strip() or None
        return dataclasses.replace(info, **changes)  # type: ignore[arg-type]


def sustained_for(fired_at: datetime | None, now: datetime) -> float:
    """Seconds an alert has been firing at ``now`` (0 if it never fired)."""
    return 0.0 if fired_at is None else max(0.0, (now - fired_at).total_seconds())


def expires_from_model(alert: Alert, params: ModelParams, now: datetime) -> datetime:
    """``now`` plus :data:`EXPIRY_HALF_LIVES` half-lives of the alert's domain (the composite:
    of its slowest domain)."""
    domains = [alert.domain] if alert.domain in params.half_life_h else list(DOMAINS)
    half_life_h = max(params.half_life_h[d] for d in domains)
    return now + timedelta(hours=EXPIRY_HALF_LIVES * half_life_h)


def compose(
    alert: Alert,
    city: CityMap,
    previous: Sequence[Published],
    *,
    now: datetime,
    params: ModelParams,
    model_version: str,
    edits: DraftEdits | None = None,
    status: str = "Draft",
    sender: str = "riskmon",
    sender_name: str = "riskmon",
) -> CapAlert:
    """The next message of ``alert``'s chain (see the module's docstring)."""
    if any(p.all_clear for p in previous):
        raise ChainClosed(f"alert {alert.id}: its all-clear was published; the chain is closed")
    edits = edits or DraftEdits()
    problems = edits.problems(now)
    if problems:
        raise ValueError("; ".join(problems))
    references = tuple(Reference(p.sender, p.identifier, p.sent) for p in previous)
    message = draft_from_alert(
        alert,
        city,
        sent=now,
        model_version=model_version,
        sender=sender,
        sender_name=sender_name,
        expires=edits.expires or expires_from_model(alert, params, now),
        status=status,
        msg_type="Update" if previous else "Alert",
        references=references,
    )
    identifier = re.sub(r"[^A-Za-z0-9._:@-]", "-", f"riskmon-{alert.id}-{len(previous) + 1}")
    return dataclasses.replace(
        message, identifier=identifier, infos=tuple(edits.apply(i) for i in message.infos)
    )


def is_all_clear(message: CapAlert) -> bool:
    return any("AllClear" in info.response_types for info in message.infos)


def checked(message: CapAlert) -> tuple[bytes, ParsedCap]:
    """``message`` as CAP XML bytes, read back by riskmon's own ingester (which must accept it
    unchanged: no leniency); raises :class:`~streams.cap.errors.CapInvalid` otherwise."""
    data = write_cap(message)
    parsed = parse_cap(data)
    if parsed.leniencies:
        raise CapInvalid("alert", f"riskmon's own message needed leniency: {parsed.leniencies}")
    if parsed.alert.key != message.key or parsed.alert.msg_type != message.msg_type:
        raise CapInvalid("alert", "the message did not read back as written")
    return data, parsed
