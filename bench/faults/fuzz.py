"""Fuzzed input records, drawn with hypothesis (seeded, generate phase only).

Hypothesis draws a *recipe* (category and its parameters: small values); :func:`build` turns it
into the record's bytes with an id unique to its position, so two fuzzed records never share an
id with different content (that would be a ``conflict`` whose outcome depends on arrival order).
Huge values are built from a size and a character, never drawn character by character.

Categories: random bytes, deep JSON, huge strings, huge and non-finite numbers, wrong types,
unknown districts and points outside the city, NUL in text, bad times, oversized keys (up to
~900 KB), random JSON values, mutated valid records (a field dropped, added or redrawn: some end
up valid), and valid records sent to the wrong input topic.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from streams.city.config import CityConfig

from .stream import INPUTS, Record

Recipe = tuple[str, tuple[Any, ...]]

# (category, weight in percent)
CATEGORIES: tuple[tuple[str, int], ...] = (
    ("random_bytes", 10),
    ("deep_json", 6),
    ("huge_string", 3),
    ("huge_number", 12),
    ("wrong_type", 14),
    ("unknown_place", 10),
    ("nul", 8),
    ("bad_time", 12),
    ("oversized_key", 2),
    ("random_json", 8),
    ("mutated", 12),
    ("wrong_topic", 3),
)
TEMPLATES = ("incident", "reading", "facility", "inspection")
TOPIC_OF = {
    "incident": "incidents",
    "reading": "readings",
    "facility": "safety",
    "inspection": "safety",
}
TEXT_FIELDS = {
    "incident": ("id", "source", "type", "description", "status"),
    "reading": ("sensor_id", "source", "kind"),
    "facility": ("id", "source", "facility_id", "facility", "action", "fact"),
    "inspection": ("id", "source", "structure_id", "grade", "fact"),
}
NUMBER_FIELDS = {
    "incident": ("severity", "lat", "lon", "casualties"),
    "reading": ("value", "lat", "lon"),
    "facility": ("lat", "lon"),
    "inspection": ("lat", "lon"),
}
IDS = frozenset({"id", "sensor_id", "facility_id", "structure_id"})
TIME_FIELD = {
    "incident": "occurred_at",
    "reading": "observed_at",
    "facility": "effective_at",
    "inspection": "effective_at",
}
WEIRD_NUMBERS = (
    "1e308", "-1e308", "1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1" * 5000,
    str(10**400), "-0", "0.1e-400", "4.0000000000000001", "5.0", "true", "1_000",
)  # fmt: skip
BAD_TIMES = (
    "2026-13-45T00:00:00Z", "yesterday", "2026-11-24T21:05:00", "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00", "", "2026-11-24", "2026-11-24T25:00:00+09:00", "now",
    "1899-12-31T23:59:59+00:00", "3000-01-01T00:00:00+00:00", "2026-11-24T21:05:00+24:00",
)  # fmt: skip
JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _recipe() -> st.SearchStrategy[Recipe]:
    template = st.sampled_from(TEMPLATES)
    size = (
        st.integers(10, 20)
        .map(lambda k: 2**k)
        .flatmap(lambda s: st.integers(s // 2, min(s, 900_000)))
    )
    char = st.characters(codec="utf-8", exclude_characters="\x00")
    by_category: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
        "random_bytes": st.tuples(st.sampled_from(INPUTS), st.binary(max_size=600)),
        "deep_json": st.tuples(
            st.sampled_from(INPUTS), st.sampled_from(["list", "dict"]), st.integers(50, 200_000)
        ),
        "huge_string": st.tuples(template, st.integers(0, 5), char, size),
        "huge_number": st.tuples(
            template,
            st.integers(0, 3),
            st.one_of(
                st.sampled_from(WEIRD_NUMBERS),
                st.integers(-(2**80), 2**80).map(str),
                st.floats(allow_nan=False, allow_infinity=False).map(repr),
            ),
        ),
        "wrong_type": st.tuples(template, st.integers(0, 7), ANY_JSON),
        "unknown_place": st.tuples(
            template,
            st.booleans(),
            st.from_regex(r"\d{10}", fullmatch=True),
            st.floats(-90, 90),
            st.floats(-180, 180),
        ),
        "nul": st.tuples(template, st.integers(0, 5), st.text(max_size=10), st.text(max_size=10)),
        "bad_time": st.tuples(
            template,
            st.one_of(
                st.sampled_from(BAD_TIMES),
                st.integers(1, 100_000).map(lambda d: f"future:{d}"),
                st.integers(-(2**40), 2**40),
                st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).flatmap(
                    lambda d: st.integers(-14 * 60, 14 * 60).map(
                        lambda m: (
                            d.isoformat()
                            + f"{'+' if m >= 0 else '-'}{abs(m) // 60:02}:{abs(m) % 60:02}"
                        )
                    )
                ),
            ),
        ),
        "oversized_key": st.tuples(template, size, st.booleans()),
        "random_json": st.tuples(st.sampled_from(INPUTS), ANY_JSON),
        "mutated": st.tuples(
            template,
            st.sampled_from(["drop", "extra", "redraw"]),
            st.integers(0, 9),
            st.integers(-3, 8),
            st.floats(0, 1),
            st.floats(0, 1),
        ),
        "wrong_topic": st.tuples(template, st.sampled_from(INPUTS)),
    }
    weighted = [name for name, weight in CATEGORIES for _ in range(weight)]
    return st.sampled_from(weighted).flatmap(
        lambda name: by_category[name].map(lambda params: (name, params))
    )


def recipes(n: int, seed_value: int) -> list[Recipe]:
    """``n`` recipes drawn by hypothesis with a fixed seed (the same list on every run)."""
    out: list[Recipe] = []

    @settings(
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @seed(seed_value)
    @given(_recipe())
    def collect(recipe: Recipe) -> None:
        out.append(recipe)

    collect()
    return out[:n]


class Builder:
    """Turns recipes into records for ``config``'s city, with ids unique per position."""

    def __init__(self, config: CityConfig, now: datetime) -> None:
        self.config = config
        self.now = now
        self.code = config.city.codes[0]

    def template(self, kind: str, n: int) -> dict[str, Any]:
        at = (self.now - timedelta(minutes=30 + n % 60)).isoformat()
        if kind == "incident":
            return {"id": f"fz-{n}", "source": "fuzz", "type": "fire", "severity": 2,
                    "occurred_at": at, "code": self.code}  # fmt: skip
        if kind == "reading":
            return {"sensor_id": f"rain-fz-{n}", "source": "fuzz", "kind": "rainfall_mm_1h",
                    "value": 3.5, "observed_at": at, "code": self.code}  # fmt: skip
        if kind == "facility":
            return {"fact": "facility", "id": f"fz-{n}", "source": "fuzz",
                    "facility_id": f"cctv-fz-{n}", "facility": "cctv", "action": "added",
                    "effective_at": at, "code": self.code}  # fmt: skip
        return {"fact": "inspection", "id": f"fz-{n}", "source": "fuzz",
                "structure_id": f"bridge-fz-{n}", "grade": "C", "effective_at": at,
                "code": self.code}  # fmt: skip

    def build(self, n: int, recipe: Recipe) -> Record:
        category, params = recipe
        make: Callable[[int, tuple[Any, ...]], Record] = getattr(self, f"_{category}")
        built = make(n, params)
        return Record(built.input, built.value, built.key, category)

    # each category: (position, params) -> record

    def _random_bytes(self, n: int, p: tuple[Any, ...]) -> Record:
        return Record(p[0], bytes(p[1]))

    def _deep_json(self, n: int, p: tuple[Any, ...]) -> Record:
        topic, shape, depth = p
        text = "[" * depth + "]" * depth if shape == "list" else '{"a":' * depth + "1" + "}" * depth
        return Record(topic, text.encode())

    def _huge_string(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, which, char, size = p
        data = self.template(kind, n)
        fields = TEXT_FIELDS[kind]
        name = fields[which % len(fields)]
        huge = (char * size)[: max(1, size // len(char.encode()))]
        # an id keeps its position first: two records never share an id with other content
        data[name] = f"{data[name]}-{huge}" if name in IDS else huge
        return self._json(kind, data)

    def _huge_number(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, which, number = p
        data = self.template(kind, n)
        fields = NUMBER_FIELDS[kind]
        name = fields[which % len(fields)]
        if name in ("lat", "lon"):
            data.pop("code", None)
            data.update(lat=37.65, lon=126.65)
        data[name] = "__NUMBER__"
        text = json.dumps(data).replace('"__NUMBER__"', number)
        return Record(TOPIC_OF[kind], text.encode())

    def _wrong_type(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, which, value = p
        data = self.template(kind, n)
        names = sorted(data)
        name = names[which % len(names)]
        data[name] = f"{data[name]}-{value}" if name in IDS and isinstance(value, str) else value
        return self._json(kind, data)

    def _unknown_place(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, by_code, code, lat, lon = p
        data = self.template(kind, n)
        if by_code:
            data["code"] = code
        else:
            data.pop("code")
            data.update(lat=lat, lon=lon)
        return self._json(kind, data)

    def _nul(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, which, before, after = p
        data = self.template(kind, n)
        fields = TEXT_FIELDS[kind]
        name = fields[which % len(fields)]
        data[name] = f"{data[name]}{before}\x00{after}" if name in IDS else f"{before}\x00{after}"
        return self._json(kind, data)

    def _bad_time(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, value = p
        data = self.template(kind, n)
        if isinstance(value, str) and value.startswith("future:"):
            value = (datetime.now(UTC) + timedelta(days=int(value[7:]) / 100 + 1)).isoformat()
        data[TIME_FIELD[kind]] = value
        return self._json(kind, data)

    def _oversized_key(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, size, valid = p
        record = (
            self._json(kind, self.template(kind, n)) if valid else Record(TOPIC_OF[kind], b"{oops")
        )
        return Record(record.input, record.value, b"k" * size)

    def _random_json(self, n: int, p: tuple[Any, ...]) -> Record:
        return Record(p[0], json.dumps(p[1]).encode())

    def _mutated(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, how, which, severity, u, v = p
        data = self.template(kind, n)
        names = sorted(data)
        name = names[which % len(names)]
        if how == "drop":
            data.pop(name)
        elif how == "extra":
            data[f"x_{which}"] = which
        else:
            rng = random.Random(n)
            west, south, east, north = self.config.city.bounds
            data.pop("code", None)
            data.update(lat=south + u * (north - south), lon=west + v * (east - west))
            if kind == "incident":
                data["severity"] = severity
                data["type"] = rng.choice(["fire", "theft", "flood", "meteor"])
            elif kind == "reading":
                data["value"] = severity * 10.0
        return self._json(kind, data)

    def _wrong_topic(self, n: int, p: tuple[Any, ...]) -> Record:
        kind, topic = p
        record = self._json(kind, self.template(kind, n))
        return Record(topic, record.value)

    def _json(self, kind: str, data: dict[str, Any]) -> Record:
        return Record(TOPIC_OF[kind], json.dumps(data, ensure_ascii=False).encode())
