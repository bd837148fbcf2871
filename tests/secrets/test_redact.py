"""The masking rules: what looks like a secret is hidden, ordinary text and ids pass unchanged."""

from __future__ import annotations

import io
import json
import logging
import secrets
import uuid
from collections.abc import Iterator

import pytest

from corral.cli.logs import JsonFormatter
from corral.secrets.redact import (
    KNOWN,
    MASK,
    RedactFilter,
    looks_random,
    redact_args,
    redact_data,
    redact_text,
    secret_values,
)

API_TOKEN = "corral_at_" + "Q4wSLJ0mIvkCPssWOrza9MIGS2aMhfzeOcfWgKZIJHA"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
HEX = "4f9a1c77e2b04d5e9a0c3b2a1f0e9d8c"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Bearer abcdef123456789", "Authorization: Bearer ***"),
        ("basic dXNlcjpwYXNzd29yZA==", "basic ***"),
        (f"admin token {API_TOKEN} issued", "admin token *** issued"),
        (f"login {JWT}", "login ***"),
        ("key sk-ant-api03-" + HEX, "key ***"),
        ("GITHUB_TOKEN=ghp_" + "a1" * 18, "GITHUB_TOKEN=***"),
        ("https://user:p4ssw0rd@db.example.com/x", "https://user:***@db.example.com/x"),
        ("GET /mcp?access_token=abc123def&x=1", "GET /mcp?access_token=***&x=1"),
        ("password=hunter2 retries=3", "password=*** retries=3"),
        (f'{{"api_key": "{HEX}"}}', '{"api_key": "***"}'),
        (f"client_secret: {HEX}", "client_secret: ***"),
    ],
)
def test_token_looking_strings_are_masked_and_their_labels_kept(text: str, masked: str) -> None:
    assert redact_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "server echo: starting → healthy (ok)",
        "invalid bearer token: send 'Authorization: Bearer <token>'",
        "Basic authentication is not supported",
        "token: send one with the request",
        "corral__restart_server and corral__wait_healthy",
        f"execution {uuid.uuid4()} step fetch[2] done",
        "no_auth=True tokens=5 password=none",
        "tok_1a2b3c4d5e6f revoked by alice",
        "sha256 " + "0" * 64,
    ],
)
def test_ordinary_text_passes_unchanged(text: str) -> None:
    assert redact_text(text) == text


def test_known_values_are_masked_wherever_they_appear_until_their_owner_is_forgotten() -> None:
    KNOWN.remember("tests.redact", ["hunter22", "hunter22-longer"])
    try:
        masked = redact_text("hunter22-longer, then hunter22 and hunter2")
    finally:
        KNOWN.forget("tests.redact")

    assert masked == "***, then *** and hunter2"
    assert redact_text("hunter22") == "hunter22"


def test_token_like_values_are_told_from_ids_paths_and_versions() -> None:
    assert looks_random(HEX)
    assert looks_random(secrets.token_urlsafe(32).replace("-", "A").replace("_", "b") + "x1Y")
    assert not looks_random(str(uuid.uuid4()))
    assert not looks_random("/usr/local/lib/python3.11/site-packages")
    assert not looks_random("python3.11-slim-bookworm")
    assert not looks_random("tok_1a2b3c4d5e6f")


def test_secret_values_are_those_with_a_secret_name_or_a_token_like_value() -> None:
    env = {"API_TOKEN": "plainword", "DB_PASSWORD": "hunter22", "X": HEX, "TZ": "Europe/Paris", "PIN": "12"}

    assert secret_values(env) == ["plainword", "hunter22", HEX]


def test_the_value_after_a_secret_flag_is_masked_in_arguments() -> None:
    args = ["--api-key", HEX, "--repository", "/srv/repo", "--token=abc123", "--verbose"]

    assert redact_args(args) == ["--api-key", MASK, "--repository", "/srv/repo", "--token=***", "--verbose"]


def test_data_is_masked_under_secret_keys_and_in_strings_and_left_alone_otherwise() -> None:
    ids = {"token": "tok_1a2b3c4d5e6f", "execution": str(uuid.uuid4()), "n": 3, "ok": True}
    data = {"nested": [{"secret": HEX}, f"Bearer {HEX}"], **ids}

    masked = redact_data(data)

    assert masked == {"nested": [{"secret": MASK}, "Bearer ***"], **ids}
    assert redact_data(ids) is ids  # nothing to mask: the same object, no copy


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """A logger whose records go through the redaction filter to a string."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactFilter())
    logger = logging.getLogger("tests.secrets.redact")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, out, handler
    logger.removeHandler(handler)
    logger.propagate = True


def test_the_log_filter_masks_messages_arguments_and_tracebacks_in_text_and_json(
    logged: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, handler = logged
    for formatter in (logging.Formatter("%(message)s"), JsonFormatter()):
        handler.setFormatter(formatter)
        logger.warning("calling with Bearer %s", HEX)
        try:
            raise RuntimeError(f"upstream refused {API_TOKEN}")
        except RuntimeError:
            logger.exception("call failed for %s", JWT)

    written = out.getvalue()
    assert HEX not in written and API_TOKEN not in written and JWT not in written
    assert written.count("calling with Bearer ***") == 2
    assert "RuntimeError: upstream refused ***" in written
    last = json.loads(written.strip().splitlines()[-1])
    assert last["message"] == "call failed for ***"
    assert "RuntimeError: upstream refused ***" in last["exception"]
