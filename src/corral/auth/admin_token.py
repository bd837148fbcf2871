"""The bootstrap admin token: made on first start, kept in ``<data-dir>/admin.token`` (mode 0600).

Also the helper that keeps any generated secret (the login signing key too) in a file only
its owner can read.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path

TOKEN_PREFIX = "corral_"


def ensure_admin_token(path: Path) -> str:
    """Read the admin token, creating it (readable by the owner only) when it does not exist."""
    return ensure_secret_file(path, lambda: TOKEN_PREFIX + secrets.token_urlsafe(32))


def ensure_secret_file(path: Path, make: Callable[[], str]) -> str:
    """Read the secret in ``path``; when the file is missing or empty, write ``make()`` there, mode 0600."""
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = make()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secret + "\n")
    os.chmod(path, 0o600)
    return secret


def read_admin_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def tokens_match(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
