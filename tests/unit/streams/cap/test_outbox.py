"""CAP out, the chain of one alert: Alert, Updates naming every earlier message, the all-clear;
operators' edits bounded; every message read back by our ingester and valid against the XSD."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from indices import ModelParams
from streams.cap.model import CapAlert
from streams.cap.outbox import ChainClosed, DraftEdits, Published, checked, compose, is_all_clear
from streams.city.config import default_city_config
from streams.city.map import CityMap
from tests.factories import alert

from .test_build import XSD, needs_xsd

NOW = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)
PARAMS = ModelParams()


@pytest.fixture(scope="module")
def city() -> CityMap:
    return default_city_config().city


def nxt(city: CityMap, previous: list[Published], state: str = "firing", **kw: Any) -> CapAlert:
    return compose(
        alert(
            "alert-7",
            4 + len(previous),
            state,
            change="resolved" if state == "resolved" else "fired",
        ),
        city,
        previous,
        now=NOW + timedelta(minutes=10 * len(previous)),
        params=PARAMS,
        model_version="riskmon-index/0.2",
        status="Actual",
        **kw,
    )


def test_the_chain_is_alert_updates_and_an_all_clear(city: CityMap) -> None:
    chain: list[Published] = []
    messages = []
    for state in ("firing", "firing", "resolved"):
        message = nxt(city, chain, state)
        messages.append(message)
        chain.append(
            Published(message.identifier, message.sender, message.sent, is_all_clear(message))
        )
    first, update, clear = messages
    assert (first.msg_type, first.references) == ("Alert", ())
    assert first.identifier == "riskmon-alert-7-1"
    assert update.msg_type == "Update"
    assert [r.identifier for r in update.references] == ["riskmon-alert-7-1"]
    assert clear.msg_type == "Update"
    assert [r.identifier for r in clear.references] == ["riskmon-alert-7-1", "riskmon-alert-7-2"]
    assert all(info.urgency == "Past" and "AllClear" in info.response_types for info in clear.infos)
    with pytest.raises(ChainClosed):
        nxt(city, chain)


def test_expires_follows_the_model_decay_unless_the_operator_sets_it(city: CityMap) -> None:
    message = nxt(city, [])
    fire_half_life = PARAMS.half_life_h["fire"]
    assert message.infos[0].expires == (NOW + timedelta(hours=2 * fire_half_life)).replace(
        microsecond=0
    )
    chosen = NOW + timedelta(hours=1)
    assert nxt(city, [], edits=DraftEdits(expires=chosen)).infos[0].expires == chosen


def test_edits_change_the_words_of_each_language_and_are_bounded(city: CityMap) -> None:
    edits = DraftEdits(
        headline={"ko": "장기동 화재 주의", "en": "Fire warning: Janggi-dong"},
        instruction={"ko": "창문을 닫으십시오", "en": "Close your windows"},
    )
    ko, en = nxt(city, [], edits=edits).infos
    assert (ko.language, ko.headline, ko.instruction) == (
        "ko-KR",
        "장기동 화재 주의",
        "창문을 닫으십시오",
    )
    assert (en.headline, en.instruction) == ("Fire warning: Janggi-dong", "Close your windows")
    bad = [
        DraftEdits(headline={"ko": "x" * 161}),
        DraftEdits(headline={"fr": "alerte"}),
        DraftEdits(description={"en": "bell\x07"}),
        DraftEdits(headline={"en": "  "}),
        DraftEdits(expires=NOW - timedelta(minutes=1)),
        DraftEdits(expires=datetime(2026, 11, 25)),  # no offset
    ]
    for edit in bad:
        with pytest.raises(ValueError, match=r"\S"):
            nxt(city, [], edits=edit)


def test_every_message_reads_back_unchanged(city: CityMap) -> None:
    message = nxt(city, [], edits=DraftEdits(description={"ko": "<script>&\"'"}))
    data, parsed = checked(message)
    assert parsed.alert.identifier == message.identifier
    assert parsed.alert.infos[0].description == "<script>&\"'"
    assert b"&lt;script&gt;" in data


@needs_xsd
def test_every_message_of_the_chain_validates_against_the_official_xsd(city: CityMap) -> None:
    assert XSD is not None
    chain: list[Published] = []
    for state in ("firing", "firing", "resolved"):
        message = nxt(city, chain, state)
        data, _ = checked(message)
        assert XSD.validate(etree.fromstring(data)), XSD.error_log
        chain.append(
            Published(message.identifier, message.sender, message.sent, is_all_clear(message))
        )
