"""Sealing secrets: round trips, the key from the settings or a generated file, wrong keys refused."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from corral.secrets.cipher import SEALED_PREFIX, SecretCipher, SecretsKeyMismatch, load_cipher

KEY = "a secrets key that is long enough to use"


def test_a_sealed_value_opens_with_its_key_and_hides_the_value() -> None:
    cipher = SecretCipher(KEY, "test")

    sealed = cipher.seal("hunter2-and-more")

    assert sealed.startswith(SEALED_PREFIX) and "hunter2" not in sealed
    assert cipher.seal("hunter2-and-more") != sealed  # a fresh nonce each time
    assert cipher.unseal(sealed, owner="server 'x'") == "hunter2-and-more"
    assert cipher.unseal("written in clear", owner="server 'x'") == "written in clear"


def test_a_value_sealed_under_another_key_is_refused_with_where_the_key_came_from() -> None:
    sealed = SecretCipher(KEY, "test").seal("hunter2")

    with pytest.raises(SecretsKeyMismatch) as raised:
        SecretCipher(KEY + "!", "the key file /data/secrets.key").unseal(sealed, owner="server 'x'")

    assert "server 'x'" in raised.value.message
    assert "the key file /data/secrets.key" in raised.value.message


def test_without_a_configured_key_one_is_generated_into_an_owner_only_file_and_its_place_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "data" / "secrets.key"
    caplog.set_level(logging.INFO, logger="corral.secrets.cipher")

    first = load_cipher(None, path)
    sealed = first.seal("hunter2")
    again = load_cipher(None, path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again.unseal(sealed, owner="x") == "hunter2"
    assert again.source == str(path)
    generated, reused = caplog.records
    assert generated.levelno == logging.WARNING and str(path) in generated.getMessage()
    assert reused.levelno == logging.INFO and str(path) in reused.getMessage()
    assert path.read_text().strip() not in caplog.text


def test_a_configured_key_is_used_and_no_key_file_is_made(tmp_path: Path) -> None:
    path = tmp_path / "secrets.key"

    cipher = load_cipher(SecretStr(KEY), path)

    assert not path.exists()
    assert SecretCipher(KEY, "same key").unseal(cipher.seal("v"), owner="x") == "v"
    assert "CORRAL_SECRETS_KEY" in cipher.source
