"""The bootstrap admin token: made on first start, kept in ``<data-dir>/admin.token`` (mode 0600)."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

TOKEN_PREFIX = "corral_"


def ensure_admin_token(path: Path) -> str:
    """Read the admin token, creating it (readable by the owner only) when it does not exist."""
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def read_admin_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def tokens_match(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
