"""Encryption of server secrets at rest, under a key from the settings or one generated into the data dir.

Values are sealed with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``) under a key
derived by HKDF from the configured string, so any long random string serves as the setting. A
sealed value is the string ``enc:v1:<token>``: the JSON columns that hold specs keep their shape,
and a value stored in clear before encryption existed is told apart and sealed at the next start.
The same derivation gives a second key for fingerprints (HMAC), so a digest of a spec says nothing
about the secrets in it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from corral.auth.admin_token import ensure_secret_file
from corral.errors import ConfigError

logger = logging.getLogger(__name__)

SEALED_PREFIX = "enc:v1:"
MAX_OPENED = 10_000
CONFIGURED = "the secrets_key setting (CORRAL_SECRETS_KEY or hub.secrets_key)"


class SecretsKeyMismatch(ConfigError):
    """Stored secrets do not open with the hub's secrets key."""

    code = "secrets_key_mismatch"


class SecretCipher:
    """Seals and unseals strings; ``source`` says where the key came from, for error messages."""

    def __init__(self, key: str, source: str) -> None:
        material = HKDF(
            algorithm=hashes.SHA256(), length=64, salt=None, info=b"corral secrets at rest v1"
        ).derive(key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(material[:32]))
        self._mac_key = material[32:]
        self.source = source
        self._opened: dict[str, str] = {}  # sealed → clear: every read of a spec opens its values again

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(SEALED_PREFIX)

    def seal(self, value: str) -> str:
        return SEALED_PREFIX + self._fernet.encrypt(value.encode()).decode("ascii")

    def unseal(self, value: str, *, owner: str) -> str:
        """The clear value of a sealed one (a clear one comes back as it is).

        Raises: SecretsKeyMismatch when it was sealed under another key (or altered).
        """
        if not self.is_sealed(value):
            return value
        if (opened := self._opened.get(value)) is not None:
            return opened
        try:
            opened = self._fernet.decrypt(value.removeprefix(SEALED_PREFIX)).decode()
        except InvalidToken:
            raise SecretsKeyMismatch(
                f"the stored secrets of {owner} cannot be decrypted with the key from {self.source}; "
                "start the hub with the secrets key they were stored with: set CORRAL_SECRETS_KEY "
                "(or hub.secrets_key), or put back the <data-dir>/secrets.key file it was generated into"
            ) from None
        if len(self._opened) >= MAX_OPENED:
            self._opened.clear()
        self._opened[value] = opened
        return opened

    def fingerprint(self, data: bytes) -> str:
        """A keyed digest of ``data`` (HMAC-SHA256, hex): stable under this key, no help to a guesser."""
        return hmac.new(self._mac_key, data, hashlib.sha256).hexdigest()


def load_cipher(configured: SecretStr | None, path: Path) -> SecretCipher:
    """The cipher for the configured key, else for the key in ``path`` (generated there, 0600, if missing)."""
    if configured is not None:
        return SecretCipher(configured.get_secret_value(), CONFIGURED)
    existed = path.exists() and path.stat().st_size > 0
    key = ensure_secret_file(path, lambda: Fernet.generate_key().decode("ascii"))
    if existed:
        logger.info("server secrets are encrypted with the key in %s", path)
    else:
        logger.warning(
            "!! generated the key that encrypts server env values and headers in the store: %s "
            "(mode 0600). Back it up with the store: without it they cannot be read. "
            "Set CORRAL_SECRETS_KEY (or hub.secrets_key) to provide the key yourself !!",
            path,
        )
    return SecretCipher(key, str(path))
