"""CAP XML bytes → :class:`~streams.cap.model.ParsedCap`, safely.

Call :func:`parse_cap` with the message's *bytes* (never a decoded ``str``: the byte order mark
and the XML declaration's ``encoding`` decide, so UTF-8, UTF-16 and EUC-KR all read right).

What is refused before anything is read (:class:`~streams.cap.errors.CapRefused`):

* more than ``max_bytes`` (default 1 MiB): the size is checked before the parser sees a byte;
* any ``<!DOCTYPE``: no DTD, no entity (internal or external), so no file or URL is ever opened
  and no entity expansion bomb can go off. lxml runs with ``resolve_entities=False``,
  ``no_network=True``, ``load_dtd=False``, ``dtd_validation=False`` and ``huge_tree=False`` as
  a second wall, and the tree is checked again for a DTD and entity nodes after parsing;
* XInclude elements (``xi:include``): never processed, and refused so nobody thinks they were;
* text that is not well-formed XML.

Then the tree is read into the model, checking every rule of :mod:`streams.cap.validate`; CAP 1.2
and 1.1 namespaces are accepted (and an ``alert`` without a namespace, read as 1.2 and noted).
Elements riskmon does not know are ignored and noted; an XML signature (``ds:Signature``) is
kept as ``signed=True`` (the caller keeps the bytes; verifying it is optional and not done here).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from lxml import etree

from streams.cap.errors import CapInvalid, CapRefused
from streams.cap.model import (
    CATEGORY,
    CERTAINTY,
    MSG_TYPE,
    NAMESPACES,
    RESPONSE_TYPE,
    SCOPE,
    SEVERITY,
    STATUS,
    URGENCY,
    XMLDSIG,
    CapAlert,
    CapArea,
    CapInfo,
    CapResource,
    ParsedCap,
    Reference,
    ValuePair,
)
from streams.cap.validate import (
    read_circle,
    read_enum,
    read_identifier,
    read_number,
    read_polygon,
    read_references,
    read_time,
)

__all__ = ["DEFAULT_MAX_BYTES", "parse_cap", "safe_xml"]

DEFAULT_MAX_BYTES = 1 << 20
XINCLUDE = "http://www.w3.org/2001/XInclude"
_DOCTYPE_MARKS = tuple(
    "<!DOCTYPE".encode(codec)
    for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
# Values that are tokens, not prose: blanks around them are a deviation worth noting.
_TOKENS = frozenset(
    {"identifier", "sender", "sent", "status", "msgType", "scope", "urgency", "severity",
     "certainty", "effective", "onset", "expires", "valueName", "references", "language"}
)  # fmt: skip
T = TypeVar("T")


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers keep state and are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        attribute_defaults=False,
    )


def safe_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """The root element of ``data``, parsed with no DTD, entity, network or XInclude; raises
    :class:`CapRefused`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(
            f"pass the message's bytes, not {type(data).__name__}: its encoding is declared inside"
        )
    data = bytes(data)
    if len(data) > max_bytes:
        raise CapRefused("", f"{len(data)} bytes, more than the {max_bytes} allowed")
    if any(mark in data for mark in _DOCTYPE_MARKS):
        raise CapRefused("DOCTYPE", "a DOCTYPE is refused (no DTDs, no entities)")
    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError, LookupError) as exc:
        raise CapRefused("", f"not well-formed XML: {exc}") from exc
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise CapRefused("DOCTYPE", "a DOCTYPE is refused (no DTDs, no entities)")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise CapRefused("", f"entity reference {node.text} refused")
        if isinstance(node.tag, str) and etree.QName(node).namespace == XINCLUDE:
            raise CapRefused(etree.QName(node).localname, "XInclude is never processed")
    return root


def parse_cap(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedCap:
    """Read one CAP 1.2 (or 1.1) message; raises :class:`~streams.cap.errors.CapError`
    (:class:`CapRefused` or :class:`CapInvalid`) naming the element."""
    root = safe_xml(data, max_bytes=max_bytes)
    qname = etree.QName(root)
    notes: list[str] = []
    if qname.localname != "alert":
        raise CapInvalid(qname.localname, "the root element must be a CAP alert")
    if qname.namespace is None:
        version = "1.2"
        notes.append("alert: no namespace; read as CAP 1.2")
    elif qname.namespace in NAMESPACES:
        version = NAMESPACES[qname.namespace]
    else:
        raise CapInvalid("alert", f"namespace {qname.namespace!r} is not CAP 1.2 or 1.1")
    reader = _Reader(qname.namespace, notes)
    alert = reader.alert(root)
    return ParsedCap(alert=alert, version=version, leniencies=tuple(notes))


class _Reader:
    """Walks one message's tree; ``notes`` collects the leniencies."""

    def __init__(self, namespace: str | None, notes: list[str]) -> None:
        self.ns = namespace
        self.notes = notes

    # -- element access -------------------------------------------------------------------
    def _children(
        self, element: etree._Element, path: str, known: set[str]
    ) -> dict[str, list[etree._Element]]:
        found: dict[str, list[etree._Element]] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue
            q = etree.QName(child)
            if q.namespace != self.ns:
                if q.namespace == XMLDSIG and q.localname == "Signature":
                    found.setdefault("Signature", []).append(child)
                else:
                    self.notes.append(f"{path}/{q.localname}: element of {q.namespace} ignored")
                continue
            if q.localname not in known:
                self.notes.append(f"{path}/{q.localname}: unknown element ignored")
                continue
            found.setdefault(q.localname, []).append(child)
        return found

    def _text(self, element: etree._Element) -> str:
        return "".join(str(part) for part in element.itertext()).strip()

    def _one(
        self, found: dict[str, list[etree._Element]], name: str, path: str, required: bool = False
    ) -> str | None:
        elements = found.get(name, [])
        if len(elements) > 1:
            raise CapInvalid(f"{path}/{name}", f"appears {len(elements)} times, at most once")
        if not elements:
            if required:
                raise CapInvalid(f"{path}/{name}", "is required")
            return None
        text = self._text(elements[0])
        if name in _TOKENS and text and text != (elements[0].text or ""):
            self.notes.append(f"{path}/{name}: blanks around {text!r} ignored")
        return text

    def _need(self, found: dict[str, list[etree._Element]], name: str, path: str) -> str:
        value = self._one(found, name, path, required=True)
        assert value is not None
        if not value:
            raise CapInvalid(f"{path}/{name}", "is empty")
        return value

    def _map(
        self,
        found: dict[str, list[etree._Element]],
        name: str,
        path: str,
        read: Callable[[etree._Element, str], T],
    ) -> tuple[T, ...]:
        return tuple(read(el, f"{path}/{name}[{i}]") for i, el in enumerate(found.get(name, [])))

    # -- the message ----------------------------------------------------------------------
    def alert(self, root: etree._Element) -> CapAlert:
        path = "alert"
        known = {
            "identifier", "sender", "sent", "status", "msgType", "source", "scope",
            "restriction", "addresses", "code", "note", "references", "incidents", "info",
        }  # fmt: skip
        f = self._children(root, path, known)
        scope_text = self._one(f, "scope", path)
        if scope_text is None:
            self.notes.append("alert/scope: missing; read as 'Public'")
            scope = "Public"
        else:
            scope = read_enum(f"{path}/scope", scope_text, SCOPE, self.notes)
        alert = CapAlert(
            identifier=read_identifier(f"{path}/identifier", self._need(f, "identifier", path)),
            sender=read_identifier(f"{path}/sender", self._need(f, "sender", path)),
            sent=read_time(f"{path}/sent", self._need(f, "sent", path), self.notes),
            status=read_enum(f"{path}/status", self._need(f, "status", path), STATUS, self.notes),
            msg_type=read_enum(
                f"{path}/msgType", self._need(f, "msgType", path), MSG_TYPE, self.notes
            ),
            scope=scope,
            source=self._one(f, "source", path),
            restriction=self._one(f, "restriction", path),
            addresses=self._one(f, "addresses", path),
            codes=tuple(self._text(el) for el in f.get("code", [])),
            note=self._one(f, "note", path),
            references=self._references(f, path),
            incidents=self._one(f, "incidents", path),
            infos=tuple(self.info(el, f"info[{i}]") for i, el in enumerate(f.get("info", []))),
            signed=bool(f.get("Signature")),
        )
        if alert.scope == "Restricted" and not alert.restriction:
            raise CapInvalid("alert/restriction", "is required when scope is Restricted")
        if alert.scope == "Private" and not alert.addresses:
            raise CapInvalid("alert/addresses", "is required when scope is Private")
        if alert.msg_type in ("Update", "Cancel") and not alert.references:
            raise CapInvalid(
                "alert/references",
                f"is required for a {alert.msg_type}: which alert does it change?",
            )
        return alert

    def _references(self, f: dict[str, list[etree._Element]], path: str) -> tuple[Reference, ...]:
        text = self._one(f, "references", path)
        return () if text is None else read_references(f"{path}/references", text, self.notes)

    def _pair(self, element: etree._Element, path: str) -> ValuePair:
        f = self._children(element, path, {"valueName", "value"})
        return ValuePair(self._need(f, "valueName", path), self._one(f, "value", path, True) or "")

    def info(self, element: etree._Element, path: str) -> CapInfo:
        known = {
            "language", "category", "event", "responseType", "urgency", "severity", "certainty",
            "audience", "eventCode", "effective", "onset", "expires", "senderName", "headline",
            "description", "instruction", "web", "contact", "parameter", "resource", "area",
        }  # fmt: skip
        f = self._children(element, path, known)
        categories = tuple(
            read_enum(f"{path}/category[{i}]", self._text(el), CATEGORY, self.notes)
            for i, el in enumerate(f.get("category", []))
        )
        if not categories:
            raise CapInvalid(f"{path}/category", "is required (at least one)")

        def time(name: str) -> datetime | None:
            text = self._one(f, name, path)
            return None if text is None else read_time(f"{path}/{name}", text, self.notes)

        language = self._one(f, "language", path) or "en-US"
        return CapInfo(
            categories=categories,
            event=self._need(f, "event", path),
            urgency=read_enum(
                f"{path}/urgency", self._need(f, "urgency", path), URGENCY, self.notes
            ),
            severity=read_enum(
                f"{path}/severity", self._need(f, "severity", path), SEVERITY, self.notes
            ),
            certainty=read_enum(
                f"{path}/certainty", self._need(f, "certainty", path), CERTAINTY, self.notes
            ),
            language=language,
            response_types=tuple(
                read_enum(f"{path}/responseType[{i}]", self._text(el), RESPONSE_TYPE, self.notes)
                for i, el in enumerate(f.get("responseType", []))
            ),
            audience=self._one(f, "audience", path),
            event_codes=self._map(f, "eventCode", path, self._pair),
            effective=time("effective"),
            onset=time("onset"),
            expires=time("expires"),
            sender_name=self._one(f, "senderName", path),
            headline=self._one(f, "headline", path),
            description=self._one(f, "description", path),
            instruction=self._one(f, "instruction", path),
            web=self._one(f, "web", path),
            contact=self._one(f, "contact", path),
            parameters=self._map(f, "parameter", path, self._pair),
            resources=self._map(f, "resource", path, self.resource),
            areas=tuple(
                self.area(el, f"{path}/area[{i}]") for i, el in enumerate(f.get("area", []))
            ),
        )

    def resource(self, element: etree._Element, path: str) -> CapResource:
        known = {"resourceDesc", "mimeType", "size", "uri", "derefUri", "digest"}
        f = self._children(element, path, known)
        mime = self._one(f, "mimeType", path)
        if not mime:
            self.notes.append(f"{path}/mimeType: missing; read as application/octet-stream")
            mime = "application/octet-stream"
        size_text = self._one(f, "size", path)
        if size_text is not None and not size_text.isdigit():
            raise CapInvalid(f"{path}/size", f"{size_text!r} is not a number of bytes")
        return CapResource(
            description=self._need(f, "resourceDesc", path),
            mime_type=mime,
            size=int(size_text) if size_text is not None else None,
            uri=self._one(f, "uri", path),
            digest=self._one(f, "digest", path),
            has_deref_uri=bool(f.get("derefUri")),
        )

    def area(self, element: etree._Element, path: str) -> CapArea:
        known = {"areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"}
        f = self._children(element, path, known)
        description = self._one(f, "areaDesc", path)
        if not description:
            self.notes.append(f"{path}/areaDesc: missing or empty")
        altitude, ceiling = self._one(f, "altitude", path), self._one(f, "ceiling", path)
        if ceiling is not None and altitude is None:
            raise CapInvalid(f"{path}/ceiling", "needs an altitude")
        geocodes = self._map(f, "geocode", path, self._pair)
        for i, code in enumerate(geocodes):
            if not code.value:
                raise CapInvalid(f"{path}/geocode[{i}]/value", "is empty")
        return CapArea(
            description=description or "",
            polygons=tuple(
                read_polygon(f"{path}/polygon[{i}]", self._text(el), self.notes)
                for i, el in enumerate(f.get("polygon", []))
            ),
            circles=tuple(
                read_circle(f"{path}/circle[{i}]", self._text(el), self.notes)
                for i, el in enumerate(f.get("circle", []))
            ),
            geocodes=geocodes,
            altitude=None if altitude is None else read_number(f"{path}/altitude", altitude),
            ceiling=None if ceiling is None else read_number(f"{path}/ceiling", ceiling),
        )
