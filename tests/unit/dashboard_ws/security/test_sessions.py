"""Session tokens (stored hashed, idle and absolute expiry) and signed bearer tokens (tampering,
another secret, expiry)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from dashboard_ws.security.roles import Role
from dashboard_ws.security.sessions import (
    Claims,
    TokenRefused,
    TokenSigner,
    new_session,
    new_session_token,
    token_digest,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SECRET = b"0123456789abcdef0123456789abcdef"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_session_tokens_are_random_and_only_their_digest_is_kept() -> None:
    tokens = {new_session_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 43 for t in tokens)  # 32 bytes, URL-safe base64 without padding
    token, session = new_session("ana", T0, idle_s=60, max_s=3600, address="10.0.0.7")
    assert session.token_hash == hashlib.sha256(token.encode()).digest() == token_digest(token)
    assert token.encode() not in session.token_hash
    assert token not in repr(session)


def test_a_session_ends_after_idle_time_without_use() -> None:
    _, session = new_session("ana", T0, idle_s=60, max_s=3600)
    assert not session.expired(at(59))
    assert session.expired(at(60))


def test_use_restarts_the_idle_clock_but_never_passes_the_absolute_end() -> None:
    _, session = new_session("ana", T0, idle_s=60, max_s=150)
    session = session.touched(at(50))
    assert not session.expired(at(100))  # idle from 50: until 110
    session = session.touched(at(100)).touched(at(140))
    assert session.ends_at() == at(150)  # idle would allow 200; the absolute end is 150
    assert not session.expired(at(149))
    assert session.expired(at(150))


def test_touch_never_moves_last_seen_back() -> None:
    _, session = new_session("ana", T0, idle_s=60, max_s=3600)
    assert session.touched(at(30)).touched(at(10)).last_seen == at(30)


def test_a_bearer_token_round_trips_its_claims() -> None:
    signer = TokenSigner(SECRET)
    token = signer.issue("ops-bot", Role.OPERATOR, T0, ttl_s=900)
    assert signer.verify(token, at(899)) == Claims(
        "ops-bot", Role.OPERATOR, int(at(900).timestamp())
    )


def test_an_expired_bearer_token_is_refused() -> None:
    signer = TokenSigner(SECRET)
    token = signer.issue("ops-bot", Role.OPERATOR, T0, ttl_s=900)
    assert signer.verify(token, at(900)) == TokenRefused("expired")
    assert signer.verify(token, at(10_000)) == TokenRefused("expired")


def _forge(token: str, **changes: object) -> str:
    """The token with its claims changed and its signature kept."""
    prefix, claims, signature = token.split(".")
    raw = json.loads(base64.urlsafe_b64decode(claims + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**raw, **changes}).encode()).rstrip(b"=")
    return f"{prefix}.{forged.decode()}.{signature}"


@pytest.mark.parametrize("changes", [{"r": "admin"}, {"u": "someone-else"}, {"exp": 4_000_000_000}])
def test_tampered_claims_are_refused(changes: dict[str, object]) -> None:
    signer = TokenSigner(SECRET)
    token = signer.issue("viewer-bot", Role.VIEWER, T0, ttl_s=900)
    assert signer.verify(_forge(token, **changes), at(1)) == TokenRefused("bad signature")


def test_a_changed_signature_or_another_secret_is_refused() -> None:
    signer = TokenSigner(SECRET)
    token = signer.issue("ops-bot", Role.OPERATOR, T0, ttl_s=900)
    prefix, claims, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert signer.verify(f"{prefix}.{claims}.{flipped}", at(1)) == TokenRefused("bad signature")
    other = TokenSigner(b"another secret of thirty-two bytes!!")
    assert other.verify(token, at(1)) == TokenRefused("bad signature")


@pytest.mark.parametrize(
    "token", ["", "rm1", "rm1.a", "rm2.a.b", "rm1.a.b.c", "rm1.e30.%%%", "rm1.é.é", "x" * 500]
)
def test_malformed_tokens_are_refused(token: str) -> None:
    verdict = TokenSigner(SECRET).verify(token, at(1))
    assert isinstance(verdict, TokenRefused)


def test_signed_but_unreadable_claims_are_refused() -> None:
    signer = TokenSigner(SECRET)
    for claims in (b"not json", b'{"u":"a","r":"root","exp":1}', b'{"u":"a","r":"admin"}'):
        signed = "rm1." + base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
        token = f"{signed}.{base64.urlsafe_b64encode(signer._sign(signed)).rstrip(b'=').decode()}"
        assert signer.verify(token, at(1)) == TokenRefused("bad claims")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenSigner(b"short")
