"""CAP out (docs/agencies.md, "Public warnings"): the gateway's draft, an operator's approval,
and what was published to ``riskmon.cap-out`` (CAP 1.2 XML bytes keyed by identifier)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from streams.contract.base import Identifier, Text, WireModel

__all__ = [
    "CapApproval",
    "CapChain",
    "CapDraft",
    "CapOpenChains",
    "CapPublication",
    "CapPublications",
    "CapTexts",
]


class CapTexts(WireModel):
    """One text of the message in its two languages (``None``: riskmon's wording)."""

    ko: Text | None = Field(default=None, max_length=2000)
    en: Text | None = Field(default=None, max_length=2000)


class CapPublication(WireModel):
    """A message of an alert's chain, approved by an operator and published."""

    identifier: Identifier
    alert_id: str
    sender: str
    msg_type: Literal["Alert", "Update"]
    all_clear: bool
    sent: AwareDatetime
    approved_by: str
    approved_at: AwareDatetime
    published: bool = Field(description="false while the broker has not confirmed it yet")
    xml: str = Field(description="the CAP 1.2 message as published (UTF-8)")


class CapPublications(WireModel):
    """``GET /api/cap/published?alert=ID``: the alert's chain, oldest first."""

    alert_id: str
    messages: list[CapPublication]


class CapChain(WireModel):
    """An alert whose public warning is out and not cleared yet, with its newest message."""

    alert_id: str
    district: str
    domain: str
    alert_state: str = Field(description="riskmon's alert now: resolved means clear it")
    last: CapPublication


class CapOpenChains(WireModel):
    """``GET /api/cap/open``: the warnings published and not yet cleared, newest first."""

    chains: list[CapChain]


class CapDraft(WireModel):
    """``GET /api/cap/draft?alert=ID``: the next message of the alert's chain, for review.

    ``eligible`` says whether it may be approved now: an alert must have fired for at least
    ``RISKMON_CAP_DRAFT_AFTER_S`` seconds (sustained), and a resolved one is eligible only for its
    all-clear after a published message. ``reason`` says why not.
    """

    alert_id: str
    alert_state: str
    sustained_s: float
    eligible: bool
    reason: str | None = None
    identifier: str
    msg_type: Literal["Alert", "Update"]
    all_clear: bool
    references: list[str] = Field(description="'sender,identifier,sent' of every earlier message")
    headline: CapTexts
    description: CapTexts
    instruction: CapTexts
    expires: AwareDatetime
    xml: str = Field(description="the draft (status Draft) as CAP 1.2 XML")
    published: list[CapPublication]


class CapApproval(WireModel):
    """``POST /api/cap/approve``: publish the next message of ``alert``'s chain.

    ``identifier`` is the draft's: if another operator approved a message of the chain meanwhile
    the approval is refused (409) instead of publishing on a stale draft. Texts left out keep
    riskmon's wording; ``expires`` left out follows the model's decay.
    """

    alert: Identifier
    identifier: Identifier
    headline: CapTexts = CapTexts()
    description: CapTexts = CapTexts()
    instruction: CapTexts = CapTexts()
    expires: AwareDatetime | None = None
