"""Login tokens: signed with the hub's key, read back only by it, and only until they expire."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corral.auth.models import User
from corral.auth.principal import Role
from corral.auth.sessions import SessionSigner, ensure_signing_key, looks_like_jwt
from corral.clock import ManualClock
from corral.errors import TokenExpired

KEY = "a signing key that is long enough for HS256"
ALICE = User("alice", Role.OPERATOR, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), 3)


def test_the_signing_key_is_generated_once_into_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jwt.key"

    first = ensure_signing_key(path)
    second = ensure_signing_key(path)

    assert first == second
    assert len(first) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_login_token_carries_the_user_and_its_session_version_until_it_expires() -> None:
    clock = ManualClock()
    signer = SessionSigner(KEY, lifetime_s=1.5, clock=clock)

    session = signer.issue(ALICE)
    claims = signer.read(session.token)
    clock.advance(1.5)

    assert looks_like_jwt(session.token)
    assert (session.user, session.role) == ("alice", Role.OPERATOR)
    assert claims is not None
    assert (claims.user, claims.session_version) == ("alice", 3)
    assert claims.expires_at == session.expires_at
    with pytest.raises(TokenExpired):
        signer.read(session.token)


def test_a_token_signed_with_another_key_is_not_this_hubs() -> None:
    clock = ManualClock()
    theirs = SessionSigner("another key, just as long as the first one", 60, clock).issue(ALICE)

    assert SessionSigner(KEY, 60, clock).read(theirs.token) is None
    assert SessionSigner(KEY, 60, clock).read("eyJhbGciOiJub25lIn0.e30.") is None
