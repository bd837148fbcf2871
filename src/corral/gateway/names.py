"""Exposed names of upstream tools and prompts: ``<server>__<name>``, valid for every MCP client.

Some clients accept only ``^[a-zA-Z0-9_-]{1,64}$``. A name that already fits is
used as is; one that does not (characters outside the set, or too long) is
cleaned and shortened, and gets a hash of its full identity as a suffix, so
the result is deterministic and still unique.
"""

from __future__ import annotations

import hashlib
import re

SEPARATOR = "__"
MAX_LENGTH = 64
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
_HASH_LENGTH = 8


def exposed_name(server: str, name: str) -> str:
    plain = f"{server}{SEPARATOR}{name}"
    cleaned = _INVALID.sub("_", plain)
    if cleaned == plain and len(plain) <= MAX_LENGTH:
        return plain
    suffix = hashlib.sha256(f"{server}\0{name}".encode()).hexdigest()[:_HASH_LENGTH]
    return f"{cleaned[: MAX_LENGTH - _HASH_LENGTH - 1]}_{suffix}"
