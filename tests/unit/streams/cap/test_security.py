"""Hostile XML: a DOCTYPE with external entities, an external DTD on a URL, entity bombs and
XInclude are refused, and neither wall (the DOCTYPE check nor lxml's hardened parser) opens the
file or the connection they point at."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from streams.cap import CapRefused, parse_cap
from streams.cap.parse import _parser

from .spec_examples import gimpo_alert

SECRET = "TOP-SECRET-7f3a9c"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP server on a free loopback port that must never be connected to."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.3)
    try:
        yield server
    finally:
        server.close()


def assert_no_connection(server: socket.socket) -> None:
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return
    conn.close()
    raise AssertionError("the parser connected to the server")


def assert_listener_works(server: socket.socket) -> None:
    """The check above can fail: a real connection is seen."""
    port = server.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        conn, _ = server.accept()
        conn.close()


def hostile(secret: Path, port: int) -> bytes:
    doctype = (
        f'<!DOCTYPE alert SYSTEM "http://127.0.0.1:{port}/cap.dtd" [\n'
        f'  <!ENTITY secret SYSTEM "file://{secret}">\n'
        f'  <!ENTITY remote SYSTEM "http://127.0.0.1:{port}/entity">\n'
        "]>"
    )
    text = gimpo_alert(event="&secret;&remote;", declaration=f'<?xml version="1.0"?>\n{doctype}')
    return text.encode()


def test_a_doctype_with_external_entities_is_refused_without_reading_them(
    secret_file: Path, listener: socket.socket
) -> None:
    data = hostile(secret_file, listener.getsockname()[1])
    with pytest.raises(CapRefused) as caught:
        parse_cap(data)
    assert caught.value.path == "DOCTYPE"
    assert SECRET not in str(caught.value)
    assert_no_connection(listener)
    assert_listener_works(listener)


def test_the_hardened_parser_alone_opens_neither_file_nor_url(
    secret_file: Path, listener: socket.socket
) -> None:
    """The second wall: were the DOCTYPE check gone, lxml would still open nothing. With a
    network DTD it fails ("Attempt to load network entity") before connecting; with only a
    file entity it parses and leaves the entity unexpanded."""
    data = hostile(secret_file, listener.getsockname()[1])
    with pytest.raises(etree.XMLSyntaxError, match="network") as caught:
        etree.fromstring(data, _parser())
    assert SECRET not in str(caught.value)
    assert_no_connection(listener)
    file_only = data.replace(b"&remote;", b"").replace(
        f' SYSTEM "http://127.0.0.1:{listener.getsockname()[1]}/cap.dtd"'.encode(), b""
    )
    root = etree.fromstring(file_only, _parser())
    assert SECRET not in etree.tostring(root, encoding="unicode")
    # a parser that does resolve entities leaks the file: the assertion above can fail
    unsafe = etree.XMLParser(resolve_entities=True, load_dtd=False, no_network=True)
    assert SECRET in etree.tostring(etree.fromstring(file_only, unsafe), encoding="unicode")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_a_doctype_in_another_encoding_is_refused_too(
    codec: str, secret_file: Path, listener: socket.socket
) -> None:
    text = hostile(secret_file, listener.getsockname()[1]).decode()
    text = text.replace(
        '<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{codec.upper()}"?>'
    )
    with pytest.raises(CapRefused):
        parse_cap(text.encode(codec))
    assert_no_connection(listener)


def test_an_entity_expansion_bomb_is_refused() -> None:
    lol = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    data = f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY lol0 "lol">{lol}]><alert>&lol9;</alert>'
    with pytest.raises(CapRefused, match="DOCTYPE"):
        parse_cap(data.encode())


def test_an_undeclared_entity_is_not_xml() -> None:
    with pytest.raises(CapRefused, match="not well-formed"):
        parse_cap(gimpo_alert(event="&secret;").encode())


def test_xinclude_is_refused_and_never_processed(secret_file: Path) -> None:
    xi = "http://www.w3.org/2001/XInclude"
    include = f'<xi:include xmlns:xi="{xi}" href="{secret_file}" parse="text"/>'
    with pytest.raises(CapRefused, match=r"^include: XInclude is never processed") as caught:
        parse_cap(gimpo_alert(event=f"x{include}").encode())
    assert SECRET not in str(caught.value)
