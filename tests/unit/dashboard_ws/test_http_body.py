"""split_body: a small POST body cut out of a connection's first bytes, however they arrive."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard_ws.http_body import MAX_BODY, MAX_HEAD, MORE, PASS, Cut, split_body

HEAD = b"POST /auth/login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
HANDED_ON = HEAD + b"\r\n"  # the head websockets gets: without Content-Length
BODY = b'{"username":"ana","password":"correct horse battery"}'


def post(body: bytes, *lengths: bytes) -> bytes:
    announced = lengths or (str(len(body)).encode(),)
    return HEAD + b"".join(b"Content-Length: " + n + b"\r\n" for n in announced) + b"\r\n" + body


def test_a_complete_post_is_cut_into_head_and_body() -> None:
    assert split_body(post(BODY)) == Cut(HANDED_ON, BODY)


def test_more_is_wanted_until_the_head_and_the_whole_body_are_in() -> None:
    whole = post(BODY)
    end_of_head = whole.index(b"\r\n\r\n") + 4
    for n in range(len(whole)):
        assert split_body(whole[:n]) == MORE, n
    assert end_of_head < len(whole)
    assert split_body(whole) == Cut(HANDED_ON, BODY)


def test_bytes_after_the_body_are_handed_on() -> None:
    cut = split_body(post(BODY) + b"GET / HTTP/1.1\r\n")
    assert cut == Cut(HANDED_ON, BODY, rest=b"GET / HTTP/1.1\r\n")


def test_the_header_name_is_case_insensitive_and_its_value_trimmed() -> None:
    raw = HEAD + b"content-LENGTH:\t2 \r\n\r\n{}"
    assert split_body(raw) == Cut(HANDED_ON, b"{}")


def test_content_length_is_removed_wherever_it_stands() -> None:
    raw = b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nHost: gw\r\nAccept: */*\r\n\r\n{}"
    assert split_body(raw) == Cut(b"POST /x HTTP/1.1\r\nHost: gw\r\nAccept: */*\r\n\r\n", b"{}")


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",  # only POST bodies are cut
        b"PUT /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        b"post /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",  # the method is case-sensitive
        HEAD + b"\r\n",  # a POST without Content-Length
        HEAD + b"Content-Length: 0\r\n\r\n",
        HEAD + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
        b"\r\n\r\n",
    ],
)
def test_requests_without_a_post_body_pass_unchanged(raw: bytes) -> None:
    assert split_body(raw) == PASS


def test_a_head_that_never_ends_is_passed_on_beyond_the_head_limit() -> None:
    assert split_body(b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD - 20)) == MORE
    assert split_body(b"POST / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD) == PASS


def test_the_largest_body_is_cut_one_byte_more_is_too_large() -> None:
    body = b"a" * MAX_BODY
    assert split_body(post(body)) == Cut(HANDED_ON, body)
    announced = HEAD + f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode()
    assert split_body(announced) == Cut(HANDED_ON, b"", too_large=True)  # without the body
    assert split_body(announced + b"a" * (MAX_BODY + 1)) == Cut(HANDED_ON, b"", too_large=True)
    assert split_body(post(b"abc"), max_body=2) == Cut(HANDED_ON, b"", too_large=True)


@pytest.mark.parametrize(
    "lengths",
    [
        (b"abc",),
        (b"-1",),
        (b"+2",),
        (b"2.0",),
        (b"0x2",),
        (b"",),
        (b"1 2",),
        (b"\xd9\xa3",),  # a non-ASCII digit
        (b"2", b"3"),  # conflicting duplicates
        (b"0", b"2"),
        (b"9" * 10,),  # beyond any sane length
    ],
)
def test_a_malformed_content_length_is_reported(lengths: tuple[bytes, ...]) -> None:
    cut = split_body(post(b"{}", *lengths))
    assert cut == Cut(HANDED_ON, b"", malformed=True)


def test_agreeing_duplicates_are_one_length() -> None:
    assert split_body(post(b"{}", b"2", b"2")) == Cut(HANDED_ON, b"{}")


def test_a_body_may_hold_a_blank_line() -> None:
    body = b"a\r\n\r\nb"
    assert split_body(post(body)) == Cut(HANDED_ON, body)


# --- however the bytes arrive -------------------------------------------------------------------


def feed(chunks: list[bytes]) -> Cut | str:
    """What the connection decides, fed ``chunks`` one by one: the first answer that is not MORE
    (as BodyConnection.data_received does), or MORE if every byte left it wanting more."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        decided = split_body(buffer)
        if decided != MORE:
            return decided
    return MORE


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


requests = st.one_of(
    # a POST with a body of at most MAX_BODY bytes, announced truly
    st.builds(post, st.binary(max_size=MAX_BODY)),
    # a POST announcing too much (or nonsense), with some of the body sent anyway
    st.builds(
        lambda n, body: post(body, n),
        st.sampled_from([str(MAX_BODY + 1).encode(), b"99999", b"x1", b"1e3"]),
        st.binary(max_size=64),
    ),
    # requests without a body to cut
    st.sampled_from(
        [
            b"GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n\r\n",
            HEAD + b"\r\n",
            HEAD + b"Content-Length: 0\r\n\r\n",
        ]
    ),
)


def check_chunks(raw: bytes, cuts: list[int]) -> None:
    whole = split_body(raw)
    assert whole != MORE
    assert feed(chunked(raw, cuts)) == whole
    if isinstance(whole, Cut) and not (whole.too_large or whole.malformed):
        assert whole.head + whole.body == raw.replace(
            b"Content-Length: " + str(len(whole.body)).encode() + b"\r\n", b"", 1
        )
        assert whole.rest == b""


@given(requests, st.data())
def test_chunks_give_the_same_cut_as_the_whole(raw: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=12))
    check_chunks(raw, cuts)


@pytest.mark.parametrize(
    ("raw", "cuts"),
    [
        (post(b"{}\r\n\r\n{}"), [len(HEAD) + 2, len(HEAD) + 21, len(HEAD) + 24]),
        (post(b"a" * MAX_BODY), [1, 2, 3, len(HEAD) + 20, len(HEAD) + 22, len(HEAD) + 25]),
        (post(BODY), list(range(len(post(BODY))))),  # one byte at a time
    ],
)
def test_chunks_at_awkward_places(raw: bytes, cuts: list[int]) -> None:
    check_chunks(raw, cuts)
