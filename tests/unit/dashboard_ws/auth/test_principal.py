"""Credentials of a request (cookie, bearer), the cookie's attributes, a principal's rights."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from http.cookies import SimpleCookie

import pytest

from dashboard_ws.auth.principal import (
    COOKIE,
    MAX_CREDENTIAL_CHARS,
    TLS_COOKIE,
    Credentials,
    Principal,
    cookie_name,
    credentials_of,
    expired_cookie,
    session_cookie,
)
from dashboard_ws.security.roles import Action, Role

TOKEN = "p0Zk3cXb9WQyL2s8fJ1mVtA7uRgN4hEo6iYdKqB5xCw"  # the shape of a session token


def cookie(value: str, *, tls: bool = False) -> Credentials:
    return credentials_of([("Cookie", value)], tls=tls)


def bearer(value: str) -> Credentials:
    return credentials_of([("Authorization", value)], tls=False)


# --- the session cookie -------------------------------------------------------------------------


def test_the_cookie_is_found_among_others() -> None:
    assert cookie(f"theme=dark; {COOKIE}={TOKEN}; lang=ko") == Credentials(session=TOKEN)
    assert cookie(f'{COOKIE}="{TOKEN}"').session == TOKEN  # a quoted value is unquoted


def test_the_cookie_name_follows_tls() -> None:
    assert (COOKIE, TLS_COOKIE) == ("riskmon_session", "__Host-riskmon_session")
    assert cookie_name(tls=False) == COOKIE
    assert cookie_name(tls=True) == TLS_COOKIE
    # Over TLS only the __Host- cookie counts: a plain one may come from a sibling subdomain.
    assert cookie(f"{COOKIE}={TOKEN}", tls=True).session is None
    assert cookie(f"{TLS_COOKIE}={TOKEN}", tls=True).session == TOKEN
    assert cookie(f"{TLS_COOKIE}={TOKEN}", tls=False).session is None


def test_header_names_are_case_insensitive() -> None:
    found = credentials_of(
        [("COOKIE", f"{COOKIE}={TOKEN}"), ("authorization", "Bearer rm1.a.b")], tls=False
    )
    assert found == Credentials(session=TOKEN, bearer="rm1.a.b")
    assert found.present


@pytest.mark.parametrize(
    "value",
    [
        f"{COOKIE}=",  # empty
        f"{COOKIE}=a b",  # a space: not a cookie value
        f"{COOKIE}=ab\\c",
        f"{COOKIE}=\x00abc",
        f"other={TOKEN}",  # another name
        f"{COOKIE}x={TOKEN}",
        f"x{COOKIE}={TOKEN}",
        f"{COOKIE}",  # no value at all
        f"{COOKIE}=abc=",  # not what a session token looks like
        f'{COOKIE}="',
        f"{COOKIE}={'a' * (MAX_CREDENTIAL_CHARS + 1)}",  # oversized value
        f"{COOKIE}={TOKEN}; pad={'a' * (8 * MAX_CREDENTIAL_CHARS)}",  # oversized header
    ],
)
def test_malformed_or_oversized_cookies_count_as_absent(value: str) -> None:
    found = cookie(value)
    assert found == Credentials()
    assert not found.present


def test_the_longest_accepted_cookie_value() -> None:
    longest = "a" * MAX_CREDENTIAL_CHARS
    assert cookie(f"{COOKIE}={longest}").session == longest


def test_a_later_cookie_header_is_read_when_the_first_has_no_session() -> None:
    headers = [("Cookie", "theme=dark"), ("Cookie", f"{COOKIE}={TOKEN}")]
    assert credentials_of(headers, tls=False).session == TOKEN
    headers = [("Cookie", f"{COOKIE}={TOKEN}"), ("Cookie", f"{COOKIE}=other")]
    assert credentials_of(headers, tls=False).session == TOKEN  # the first found stays


@pytest.mark.parametrize(
    "other", ["note=a b", 'prefs={"a": 1}', 'x="unterminated', "flag", "a=b=c", "=v", "ga=x,y"]
)
def test_another_applications_odd_cookie_does_not_hide_the_session(other: str) -> None:
    # Other applications on the same host may set cookies outside RFC 6265's grammar.
    assert cookie(f"{other}; {COOKIE}={TOKEN}").session == TOKEN
    assert cookie(f"{COOKIE}={TOKEN}; {other}").session == TOKEN
    assert cookie(f"{other};{COOKIE}={TOKEN};{other}").session == TOKEN


def test_of_two_session_cookies_in_one_header_the_first_counts() -> None:
    # Browsers send the cookie with the longest path first; ours has Path=/ and comes last
    # only if someone planted another one.
    assert cookie(f"{COOKIE}={TOKEN}; {COOKIE}=other").session == TOKEN


# --- the bearer token ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["Bearer rm1.a.b", "bearer rm1.a.b", "BEARER   rm1.a.b  ", "  Bearer rm1.a.b"]
)
def test_a_bearer_token_is_read_whatever_the_scheme_case_and_spaces(value: str) -> None:
    assert bearer(value) == Credentials(bearer="rm1.a.b")


@pytest.mark.parametrize(
    "value",
    [
        "Basic YW5hOnB3",
        "Bearer",
        "Bearer    ",
        "rm1.a.b",
        "Token rm1.a.b",
        "Bearer " + "a" * (MAX_CREDENTIAL_CHARS + 1),
    ],
)
def test_other_schemes_empty_or_oversized_tokens_count_as_absent(value: str) -> None:
    assert bearer(value) == Credentials()


def test_the_longest_accepted_bearer_token_and_the_first_header_wins() -> None:
    longest = "a" * MAX_CREDENTIAL_CHARS
    assert bearer(f"Bearer {longest}").bearer == longest
    headers = [("Authorization", "Bearer first"), ("Authorization", "Bearer second")]
    assert credentials_of(headers, tls=False).bearer == "first"
    headers = [("Authorization", "Basic x"), ("Authorization", "Bearer second")]
    assert credentials_of(headers, tls=False).bearer == "second"


def test_no_headers_no_credentials() -> None:
    assert credentials_of([], tls=True) == Credentials()
    assert not Credentials().present
    assert Credentials(session="s").present
    assert Credentials(bearer="b").present


# --- Set-Cookie values --------------------------------------------------------------------------


def attributes(set_cookie: str) -> dict[str, str]:
    """The attributes of a Set-Cookie value, names lowered (flags map to "")."""
    parts = [p.strip() for p in set_cookie.split(";")]
    out: dict[str, str] = {}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        out[name.lower()] = value
    return out


def test_the_session_cookie_is_httponly_strict_and_whole_site() -> None:
    value = session_cookie(TOKEN, max_age_s=1800.9, tls=False)
    assert value.startswith(f"{COOKIE}={TOKEN};")
    assert attributes(value) == {
        "path": "/",
        "max-age": "1800",
        "httponly": "",
        "samesite": "Strict",
    }
    jar: SimpleCookie = SimpleCookie()
    jar.load(value)
    assert jar[COOKIE].value == TOKEN


def test_over_tls_the_session_cookie_is_secure_and_host_only() -> None:
    value = session_cookie(TOKEN, max_age_s=60, tls=True)
    assert value.startswith(f"{TLS_COOKIE}={TOKEN};")
    attrs = attributes(value)
    assert attrs == {
        "path": "/",
        "max-age": "60",
        "httponly": "",
        "samesite": "Strict",
        "secure": "",
    }
    assert "domain" not in attrs  # __Host- requires: Secure, Path=/, no Domain
    # What a browser sends back is what credentials_of reads.
    assert cookie(f"{TLS_COOKIE}={TOKEN}", tls=True).session == TOKEN


@pytest.mark.parametrize("tls", [False, True])
def test_the_expired_cookie_empties_the_same_cookie(tls: bool) -> None:
    value = expired_cookie(tls=tls)
    assert value.startswith(f"{cookie_name(tls=tls)}=;")
    attrs = attributes(value)
    assert attrs["max-age"] == "0"
    assert attrs["path"] == "/"
    assert "httponly" in attrs
    assert attrs["samesite"] == "Strict"
    assert ("secure" in attrs) is tls
    set_attrs = attributes(session_cookie(TOKEN, max_age_s=60, tls=tls))
    assert attrs.keys() == set_attrs.keys()  # the same cookie, or the browser keeps the old one


# --- rights -------------------------------------------------------------------------------------


def principal(role: Role) -> Principal:
    return Principal("ana", role, "session", datetime(2026, 1, 1, tzinfo=UTC))


def test_a_viewer_sees_but_does_not_act() -> None:
    viewer = principal(Role.VIEWER)
    assert viewer.may(Action.LIVE_SCORES)
    assert not viewer.may(Action.ACKNOWLEDGE)
    assert not viewer.may(Action.EVENTS_EXACT)
    assert viewer.rights() == ["live.scores", "live.alerts", "session.self", "history.read"]


def test_an_inspector_sees_and_files_field_reports() -> None:
    inspector = principal(Role.INSPECTOR)
    assert inspector.may(Action.FIELD_REPORT)
    assert not inspector.may(Action.ACKNOWLEDGE)
    assert inspector.rights() == [*principal(Role.VIEWER).rights(), "field.report"]


def test_each_role_has_the_rights_below_it_and_admin_has_all() -> None:
    operator = principal(Role.OPERATOR)
    assert operator.may(Action.ACKNOWLEDGE)
    assert not operator.may(Action.EVENTS_EXACT)
    assert set(operator.rights()) == {
        "live.scores",
        "live.alerts",
        "session.self",
        "history.read",
        "field.report",  # an inspector's right (below operator)
        "alert.acknowledge",
        "alert.resolve_note",
        "cap.publish",
    }
    analyst = principal(Role.ANALYST)
    assert set(analyst.rights()) == {*operator.rights(), "events.exact", "whatif.read"}
    assert not analyst.may(Action.USERS_ADMIN)
    assert principal(Role.ADMIN).rights() == [a.value for a in Action if a != Action.PUBLIC_READ]
    ranks = [set(principal(role).rights()) for role in Role]
    assert all(low < high for low, high in itertools.pairwise(ranks))
