"""Login tokens: short-lived JWTs (HS256) signed with the hub's key.

The key comes from the settings, or is generated into ``<data-dir>/jwt.key``
(mode 0600) on first start. A login token names its user and the user's
session version; changing the password bumps the version, which ends every
login token issued before. Expiry is checked against the injected clock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from corral.auth.admin_token import ensure_secret_file
from corral.auth.models import LoginSession, User
from corral.clock import Clock
from corral.errors import TokenExpired

ALGORITHM = "HS256"
ISSUER = "corral"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "ver", "jti"]


def ensure_signing_key(path: Path) -> str:
    """Read the signing key, generating one (readable by the owner only) when there is none."""
    return ensure_secret_file(path, lambda: secrets.token_urlsafe(48))


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


@dataclass(frozen=True)
class SessionClaims:
    user: str
    session_version: int
    token_id: str
    expires_at: datetime


class SessionSigner:
    def __init__(self, key: str, lifetime_s: float, clock: Clock) -> None:
        self._key = key
        self._lifetime = timedelta(seconds=lifetime_s)
        self._clock = clock

    def issue(self, user: User) -> LoginSession:
        now = self._clock.now()
        expires_at = now + self._lifetime
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": ISSUER,
            "sub": user.name,
            "role": user.role.value,
            "ver": user.session_version,
            "iat": int(now.timestamp()),
            # Fractional seconds are valid NumericDates and let short lifetimes be exact.
            "exp": round(expires_at.timestamp(), 3),
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return LoginSession(token, user.name, user.role, expires_at)

    def read(self, token: str) -> SessionClaims | None:
        """The claims of a login token this hub signed; None when it did not sign it.

        Raises: TokenExpired when it did, and the token's time is up.
        """
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=ISSUER,
                issuer=ISSUER,
                # Times are checked below against the hub's clock, not PyJWT's.
                options={"verify_exp": False, "verify_iat": False, "require": REQUIRED_CLAIMS},
            )
            user, version, token_id = str(claims["sub"]), int(claims["ver"]), str(claims["jti"])
            expires = float(claims["exp"])
        except (jwt.InvalidTokenError, TypeError, ValueError):
            return None
        expires_at = datetime.fromtimestamp(expires, tz=self._clock.now().tzinfo)
        if expires_at <= self._clock.now():
            raise TokenExpired(f"the login token expired at {expires_at.isoformat()}; log in again")
        return SessionClaims(user, version, token_id, expires_at)
