"""Masking secrets in text and data: one set of rules for every boundary of the hub.

Masked wherever text leaves the hub (log lines, a server's captured stderr, events, audit
entries, problem details, the spec the API shows):

- credentials with a shape of their own: ``Bearer``/``Basic`` credentials, Corral's tokens
  (``corral_…``), JWTs, well-known vendor key formats, the password in a URL;
- what follows a secret's name: ``password=…``, ``"api_key": "…"``, ``--token …`` (after ``=``
  any value; after ``:`` or as the next argument only a token-like one, so prose survives);
- in structured data, token-like strings under a secret-sounding key;
- the secret values the hub holds (servers' env values and headers, in ``KNOWN``), verbatim.

Nothing is masked merely for being long or random: ids, hashes and names stay readable. ``KNOWN``
is one per process, as logging is: every boundary, the log included, masks the same values.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from corral.auth.admin_token import TOKEN_PREFIX

MASK = "***"

_NAME = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|(?:signing|encryption|master)[_-]?key|credentials?|authorization|cookie|session[_-]?(?:id|key)"
)
SECRET_NAME = re.compile(rf"(?i)(?:{_NAME})")
_CREDENTIAL = r"[A-Za-z0-9._~+/=-]"

# Each pattern keeps its first group (a label) and masks the rest of the match. It is tried only on
# text that holds one of its hints (lower-cased): a substring search costs far less than a regex scan.
_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # An auth scheme's credential; one that is a plain word ("Basic authentication") is prose.
    (
        ("bearer", "basic"),
        re.compile(rf"(?i)(\b(?:bearer|basic)\s+)(?=[A-Za-z._~-]*[0-9+/=]){_CREDENTIAL}{{8,}}"),
    ),
    ((TOKEN_PREFIX,), re.compile(rf"()\b{re.escape(TOKEN_PREFIX)}(?=[a-z_-]*[A-Z0-9])[A-Za-z0-9_-]{{30,}}")),
    (("eyj",), re.compile(r"()\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
    (
        ("sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "akia", "glpat-", "aiza"),
        re.compile(
            r"()\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})"
        ),
    ),
    (("://",), re.compile(r"(://[^/\s:@]+:)[^/\s@]+(?=@)")),
)
_ANY_SHAPE = re.compile("|".join(re.escape(hint) for hints, _ in _SHAPES for hint in hints))
_ANY_NAME = re.compile("pass|pwd|secret|token|key|credential|authorization|cookie|session")
_ASSIGNED = re.compile(rf"(?i)((?:{_NAME})[\w-]*)(\"?'?\s*([:=])\s*[\"']?)([^\s\"'&,;]+)")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_BASE64 = re.compile(r"[A-Za-z0-9_+/=.-]+")
_PLAIN_VALUES = frozenset({"true", "false", "none", "null", "yes", "no", MASK})


def looks_random(value: str) -> bool:
    """A token-like string: 16+ letters and digits in one run, or 24+ base64 characters in both cases.

    Ids with dashes (UUIDs, ``tok_…``), paths, versions and dashed names are not token-like.
    """
    if len(value) < 16 or any(char.isspace() for char in value):
        return False
    if any(len(run) >= 16 and _mixed(run) for run in _ALNUM_RUN.findall(value)):
        return True
    return (
        len(value) >= 24
        and _BASE64.fullmatch(value) is not None
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )


def _mixed(run: str) -> bool:
    return any(char.isdigit() for char in run) and any(char.isalpha() for char in run)


def secret_values(named: Mapping[str, str]) -> list[str]:
    """The values of ``named`` (env, headers) to mask wherever they appear verbatim.

    A value counts when its name sounds secret, or when it looks like a token whatever its name;
    short values (under 6 characters) never do, as masking them would mangle ordinary text.
    """
    return [
        value
        for name, value in named.items()
        if len(value) >= 6 and (SECRET_NAME.search(name) or looks_random(value))
    ]


class KnownSecrets:
    """Secret values by owner (a server's name), masked wherever they appear verbatim."""

    def __init__(self) -> None:
        self._by_owner: dict[str, frozenset[str]] = {}
        self._values: tuple[str, ...] = ()

    def remember(self, owner: str, values: Iterable[str]) -> None:
        """Mask ``values`` from now on, in place of what ``owner`` had before."""
        self._by_owner[owner] = frozenset(values)
        self._compile()

    def forget(self, owner: str) -> None:
        self._by_owner.pop(owner, None)
        self._compile()

    def mask(self, text: str) -> str:
        # A substring search per value beats one regex alternation of them all, by far.
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def _compile(self) -> None:
        # Longest first, so a value that contains another is masked whole. The tuple is swapped in
        # whole: a thread that is logging sees the old set or the new one.
        self._values = tuple(sorted(set().union(*self._by_owner.values()), key=len, reverse=True))


KNOWN = KnownSecrets()


def redact_text(text: str) -> str:
    """``text`` with every secret it holds replaced by ``***`` (labels such as ``Bearer`` kept)."""
    text = KNOWN.mask(text)
    if len(text) < 8:  # too short for any shape or assignment worth masking
        return text
    lowered = text.lower()
    if _ANY_SHAPE.search(lowered):
        for hints, pattern in _SHAPES:
            if any(hint in lowered for hint in hints):
                text = pattern.sub(lambda match: match.group(1) + MASK, text)
    if ("=" in text or ":" in text) and _ANY_NAME.search(lowered):
        text = _ASSIGNED.sub(_assigned, text)
    return text


def _assigned(match: re.Match[str]) -> str:
    name, separator, operator, value = match.groups()
    secret = (
        len(value) >= 4 and value.lower() not in _PLAIN_VALUES if operator == "=" else looks_random(value)
    )
    return f"{name}{separator}{MASK}" if secret else match.group(0)


def redact_args(args: Iterable[str]) -> list[str]:
    """Command-line arguments with secrets masked, including the value after ``--token`` and its kin."""
    masked: list[str] = []
    after_secret_flag = False
    for arg in args:
        masked.append(MASK if after_secret_flag and looks_random(arg) else redact_text(arg))
        after_secret_flag = arg.startswith("-") and "=" not in arg and bool(SECRET_NAME.search(arg))
    return masked


def redact_data(value: Any) -> Any:
    """JSON-like data with secrets masked; the same object back when there was nothing to mask."""
    if isinstance(value, str):
        text = redact_text(value)
        return value if text == value else text
    if isinstance(value, dict):
        fields = {key: _field(key, item) for key, item in value.items()}
        return fields if any(fields[key] is not value[key] for key in value) else value
    if isinstance(value, list | tuple):
        items = [redact_data(item) for item in value]
        changed = any(new is not old for new, old in zip(items, value, strict=True))
        return type(value)(items) if changed else value
    return value


def _field(key: Any, value: Any) -> Any:
    if isinstance(value, str) and _secret_key(str(key)) and looks_random(value):
        return MASK
    return redact_data(value)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """Data has few distinct keys and many values under each: the answer is worth keeping."""
    return SECRET_NAME.search(key) is not None


class RedactFilter(logging.Filter):
    """Masks secrets in each record a handler writes: its message, arguments, traceback and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string: the handler reports it as such
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
