"""``riskmon publish``: send a file of incidents, readings and safety facts (JSON lines or CSV),
or CAP XML files, to riskmon's topics; ``--check`` validates without sending.

    riskmon publish FILE... [--check] [--format auto|jsonl|csv|cap] [--skip-bad] [--quiet]
                    [--cap-topic riskmon.cap]

Each JSON line (or CSV row, with a header naming the fields) is an Incident, a SensorReading or
a SafetyFact of the wire contract: a record with ``fact`` is a safety fact, one with
``sensor_id`` a reading, one with ``category`` a civil complaint (``riskmon.complaints``, keyed
by its id; several versions of one complaint are its status changes), any other an incident.
A CAP file is one message (bytes sent as they are, so a signature stays valid) checked by
:func:`streams.cap.parse_cap`. The format comes from the extension (``.jsonl``/``.ndjson``/
``.json``, ``.csv``, ``.xml``/``.cap``) unless ``--format`` says.

Keys make a re-sent file harmless: records are keyed as the simulator keys them
(:func:`streams.simulator.producer.route`: incidents by id, readings by sensor, facts by facility
or structure) and the worker counts each (source, id) once; CAP messages are keyed
``sender,identifier``. Within a file, an incident or fact whose (source, id) came before is
reported: the worker would ignore it.

Every bad line is reported as ``FILE:LINE: REASON``; with bad lines nothing is sent unless
``--skip-bad`` (then the good ones are). Exit status: 0 all good (and sent), 1 some bad lines,
2 usage (no such file, unknown format), 3 the broker is unreachable (as every command).

The pure core is :func:`check` (bytes in, records and problems out); :func:`publish` is the
shell that sends.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import ValidationError

from streams.cap import CapError, parse_cap
from streams.contract import SAFETY_FACT, Complaint, Incident, InputEvent, SensorReading
from streams.pipeline.ingest import Rejected, check_not_future
from streams.settings import Settings, Topics
from streams.simulator.producer import route

__all__ = ["Problem", "Record", "Report", "add_parser", "check", "check_files", "run_publish"]

EXIT_BAD = 1
EXIT_USAGE = 2
Format = Literal["jsonl", "csv", "cap"]
FORMATS: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".xml": "cap",
    ".cap": "cap",
}
_INTS = frozenset({"severity", "casualties"})
_FLOATS = frozenset({"value", "lat", "lon"})


@dataclass(frozen=True)
class Record:
    """One good record: where it came from and what to send."""

    where: str
    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Problem:
    """One bad line (or file) and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Report:
    """What :func:`check` found."""

    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    seen: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (topic, source, id)

    def by_topic(self) -> Counter[str]:
        return Counter(record.topic for record in self.records)

    def summary(self, sent: bool) -> str:
        topics = ", ".join(f"{topic} {n}" for topic, n in sorted(self.by_topic().items()))
        verb = "sent" if sent else "good"
        return (
            f"{len(self.records) + len(self.problems)} records: {len(self.records)} {verb}"
            f"{f' ({topics})' if topics else ''}, {len(self.problems)} bad"
        )


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        location = ".".join(str(p) for p in item["loc"])
        parts.append(f"{location}: {item['msg']}" if location else str(item["msg"]))
    return "; ".join(parts)


def _event(data: Any) -> InputEvent | Complaint:
    """The contract model of one decoded record (raises ValidationError or ValueError)."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if "category" in data:
        return Complaint.model_validate(data)
    if "fact" in data:
        fact: InputEvent = SAFETY_FACT.validate_python(data)
        return fact
    if "sensor_id" in data:
        return SensorReading.model_validate(data)
    return Incident.model_validate(data)


def _csv_value(name: str, text: str) -> Any:
    """A CSV cell as the contract wants it: numbers for numeric fields, text otherwise."""
    if name in _INTS and text.lstrip("-").isdigit():
        return int(text)
    if name in _FLOATS:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _rows(name: str, data: bytes, fmt: Format) -> Iterable[tuple[str, Any]]:
    """(where, decoded record or an Exception) for each non-empty line or row."""
    text = data.decode("utf-8-sig")
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{name}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"{name}:{number}", ValueError(f"not JSON: {exc.msg} at column {exc.colno}")
        return
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        where = f"{name}:{reader.line_num}"
        if None in row:
            yield where, ValueError("more cells than the header has names")
            continue
        yield where, {k: _csv_value(k, v) for k, v in row.items() if v not in ("", None)}


def check(
    name: str,
    data: bytes,
    fmt: Format,
    topics: Topics,
    *,
    now: datetime | None = None,
    max_future: timedelta = timedelta(seconds=300),
    cap_topic: str | None = None,
    report: Report | None = None,
) -> Report:
    """Check one file's bytes; ``now`` (the clock, optional) also refuses times the worker would
    refuse as too far ahead. Adds to ``report`` when given (duplicates are found across files)."""
    report = report if report is not None else Report()
    if fmt == "cap":
        try:
            alert = parse_cap(data).alert
        except CapError as exc:
            report.problems.append(Problem(name, str(exc)))
        else:
            key = f"{alert.sender},{alert.identifier}".encode()
            report.records.append(Record(name, cap_topic or topics.cap, key, data))
        return report
    try:
        rows = list(_rows(name, data, fmt))
    except UnicodeDecodeError as exc:
        report.problems.append(Problem(name, f"not UTF-8: {exc.reason} at byte {exc.start}"))
        return report
    for where, decoded in rows:
        try:
            if isinstance(decoded, Exception):
                raise decoded
            event = _event(decoded)
            if isinstance(event, Complaint):
                _complaint_not_future(event, now, max_future)
            elif now is not None:
                check_not_future(event, now, max_future)
        except ValidationError as exc:
            report.problems.append(Problem(where, _reason(exc)))
            continue
        except (ValueError, Rejected) as exc:
            report.problems.append(Problem(where, str(exc)))
            continue
        if isinstance(event, Complaint):  # a version: (source, id) at updated_at in status
            topic, key = topics.complaints, event.id.encode()
            version: str | None = f"{event.id}@{event.updated_at.isoformat()}:{event.status}"
        else:
            topic, key = route(event, topics)
            version = None if isinstance(event, SensorReading) else event.id
        if version is not None:
            identity = (topic, event.source, version)
            if identity in report.seen:
                first = report.seen[identity]
                report.problems.append(
                    Problem(where, f"duplicate of {first} (same source and id): ignored")
                )
                continue
            report.seen[identity] = where
        report.records.append(Record(where, topic, key, event.model_dump_json().encode()))
    return report


def _complaint_not_future(
    complaint: Complaint, now: datetime | None, max_future: timedelta
) -> None:
    """The worker's rule for complaints: ``updated_at`` not after ``now`` + ``max_future``."""
    if now is not None and (complaint.updated_at - now) > max_future:
        raise ValueError(
            f"updated_at {complaint.updated_at.isoformat()} lies more than "
            f"{max_future.total_seconds():.0f} s after now: the worker would refuse it"
        )


def format_of(path: Path, forced: str | None) -> Format | None:
    if forced and forced != "auto":
        return forced  # type: ignore[return-value]  # argparse choices
    return FORMATS.get(path.suffix.lower())


def check_files(
    paths: Sequence[Path],
    forced: str | None,
    topics: Topics,
    *,
    now: datetime | None = None,
    max_future: timedelta = timedelta(seconds=300),
    cap_topic: str | None = None,
) -> Report | str:
    """Check every file; a string is a usage error (a missing file, an unknown format)."""
    report = Report()
    for path in paths:
        fmt = format_of(path, forced)
        if fmt is None:
            return f"{path}: unknown format; name it .jsonl, .csv or .xml, or pass --format"
        try:
            data = path.read_bytes()
        except OSError as exc:
            return f"{path}: cannot read: {exc.strerror or exc}"
        check(
            str(path),
            data,
            fmt,
            topics,
            now=now,
            max_future=max_future,
            cap_topic=cap_topic,
            report=report,
        )
    return report


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``publish`` command."""
    publish = sub.add_parser(
        "publish",
        help="publish incidents/readings/safety facts (JSON lines, CSV) or CAP XML files",
    )
    publish.add_argument("files", nargs="+", type=Path, metavar="FILE")
    publish.add_argument(
        "--check", action="store_true", help="validate and report every bad line; send nothing"
    )
    publish.add_argument(
        "--format", choices=["auto", "jsonl", "csv", "cap"], default="auto", help="default: by "
        "extension (.jsonl .ndjson .json, .csv, .xml .cap)"
    )  # fmt: skip
    publish.add_argument(
        "--skip-bad", action="store_true", help="send the good records even if some are bad"
    )
    publish.add_argument(
        "--cap-topic", default=None, help="default: RISKMON_TOPICS__CAP (riskmon.cap)"
    )
    publish.add_argument("--quiet", action="store_true", help="no progress bar")


def run_publish(
    args: argparse.Namespace,
    settings: Settings,
    *,
    out: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """The ``publish`` command: check, report, then send (unless ``--check``)."""
    out = out or sys.stdout
    now = now or datetime.now(UTC)
    max_future = timedelta(seconds=settings.max_future_s)
    found = check_files(
        args.files,
        args.format,
        settings.topics,
        now=now,
        max_future=max_future,
        cap_topic=args.cap_topic,
    )
    if isinstance(found, str):
        print(f"riskmon publish: {found}", file=sys.stderr)
        return EXIT_USAGE
    for problem in found.problems:
        print(problem, file=out)
    send = not args.check and (not found.problems or args.skip_bad)
    if send and found.records:
        asyncio.run(publish(settings, found.records, quiet=args.quiet))
    print(found.summary(sent=send), file=out)
    if found.problems and not args.check and not args.skip_bad:
        print("nothing sent: fix the bad lines or pass --skip-bad", file=out)
    return EXIT_BAD if found.problems else 0


async def publish(settings: Settings, records: Sequence[Record], *, quiet: bool = False) -> None:
    """Send ``records`` in order and wait until the broker acknowledged every one."""
    from aiokafka import AIOKafkaProducer
    from rich.progress import Progress

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.require_bootstrap(),
        client_id="riskmon-publish",
        acks="all",
        enable_idempotence=False,  # the embedded broker refuses idempotent producers
        linger_ms=5,
        **settings.kafka_client_options(),
    )
    await producer.start()
    try:
        with Progress(disable=quiet, transient=True) as progress:
            task = progress.add_task("publishing", total=len(records))
            pending = []
            for record in records:
                pending.append(
                    await producer.send(record.topic, value=record.value, key=record.key)
                )
                if len(pending) >= 500:
                    await asyncio.gather(*pending)
                    progress.advance(task, len(pending))
                    pending.clear()
            await asyncio.gather(*pending)
            progress.advance(task, len(pending))
    finally:
        await producer.stop()
