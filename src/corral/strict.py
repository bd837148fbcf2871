"""Input models that refuse what they do not know, and the one reading of pydantic's errors.

Every model a caller fills in (REST bodies, MCP tool arguments, workflow definitions, server specs,
runtime settings) derives from ``StrictModel``: a key it does not know is an error that names the key
and the nearest known one ("unknown field 'params'; did you mean 'parameters'?") instead of being
dropped, which would start a run without the parameters its caller meant to give.

``problems`` reads pydantic's errors (a ``ValidationError``'s, or FastAPI's) into ``FieldProblem``s;
each boundary renders those in its own vocabulary (``api/problems.py``, ``InvalidInput`` here, the
management tools' error text). Nothing here does I/O.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from corral.errors import InvalidInput, UnknownField

UNKNOWN_FIELD = "unknown_field"
"""The pydantic error type (and problem code) of a key the model does not know."""
MAX_LISTED = 12
"""Known fields listed when no known one is near the unknown one; more than this are not listed."""


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (difflib's ratio, at least 0.6), else None."""
    candidates = list(known)
    folded = {candidate.lower(): candidate for candidate in candidates}
    if name.lower() in folded:  # 'Parameters' for 'parameters'
        return folded[name.lower()]
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_message(name: str, suggestion: str | None, known: Sequence[str]) -> str:
    """'unknown field 'x'; did you mean 'y'?', or the known fields when none is near."""
    if suggestion is not None:
        return f"unknown field {name!r}; did you mean {suggestion!r}?"
    if not known:
        return f"unknown field {name!r}; no fields are accepted here"
    if len(known) <= MAX_LISTED:
        return f"unknown field {name!r}; known fields: {', '.join(sorted(known))}"
    return f"unknown field {name!r}"


@functools.cache
def known_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys ``model`` accepts: its field names and their aliases."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        names.append(name)
        if field.alias:
            names.append(field.alias)
        aliases = field.validation_alias
        choices = aliases.choices if isinstance(aliases, AliasChoices) else [aliases]
        for choice in choices:
            if isinstance(choice, str):
                names.append(choice)
            elif isinstance(choice, AliasPath) and isinstance(choice.path[0], str):
                names.append(choice.path[0])
    return tuple(dict.fromkeys(names))


class StrictModel(BaseModel):
    """A model that refuses unknown keys, naming each and the nearest known one."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_fields(cls, data: Any) -> Any:
        # Runs after a subclass's own 'before' validators (which may rename keys), and before any
        # field is read: a misspelt key explains a 'missing' one, so it is the error reported.
        if not isinstance(data, dict) or cls.model_config.get("extra") != "forbid":
            return data
        known = known_fields(cls)
        unknown = [str(key) for key in data if key not in known]
        if not unknown:
            return data
        suggestions = [nearest(name, known) for name in unknown]
        raise PydanticCustomError(
            UNKNOWN_FIELD,
            "{message}",
            {
                "message": "; ".join(
                    unknown_message(name, suggestion, known)
                    for name, suggestion in zip(unknown, suggestions, strict=True)
                ),
                "fields": unknown,
                "suggestions": suggestions,
                "known": list(known),
            },
        )


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with an input: where, what, and for an unknown key the nearest known one."""

    location: tuple[str | int, ...]
    message: str
    type: str
    did_you_mean: str | None = None

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.location)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.location else self.message

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"field": self.field, "message": self.message, "type": self.type}
        if self.did_you_mean is not None:
            body["did_you_mean"] = self.did_you_mean
        return body


def problems(errors: Iterable[Mapping[str, Any]], within: tuple[str | int, ...] = ()) -> list[FieldProblem]:
    """pydantic's errors as ``FieldProblem``s, one per unknown key, unknown keys first.

    ``within`` goes before each location (e.g. ``("settings",)``). Unknown keys come first because a
    misspelt key usually explains the other errors (the field it was meant to be is 'missing').
    """
    unknown: list[FieldProblem] = []
    others: list[FieldProblem] = []
    for error in errors:
        location = (*within, *error.get("loc", ()))
        context = error.get("ctx") or {}
        if error.get("type") == UNKNOWN_FIELD and "fields" in context:
            known = context.get("known", [])
            for name, suggestion in zip(context["fields"], context["suggestions"], strict=True):
                message = unknown_message(name, suggestion, known)
                unknown.append(FieldProblem((*location, name), message, UNKNOWN_FIELD, suggestion))
        elif error.get("type") == "extra_forbidden":  # a model that is not a StrictModel
            unknown.append(FieldProblem(location, f"unknown field {str(location[-1])!r}", UNKNOWN_FIELD))
        else:
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            others.append(FieldProblem(location, message, str(error.get("type", "invalid"))))
    return unknown + others


def invalid_input(
    exc: ValidationError, *, what: str = "", within: tuple[str | int, ...] = ()
) -> InvalidInput:
    """The ``InvalidInput`` (``UnknownField`` when the first problem is an unknown key) for ``exc``.

    Its message is ``what`` and the first problem (and how many more); ``errors`` lists them all.
    """
    found = problems(exc.errors(), within)
    first = found[0] if found else FieldProblem(within, "invalid", "invalid")
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    message = f"{what}: {first}{more}" if what else f"{first}{more}"
    error_class = UnknownField if first.type == UNKNOWN_FIELD else InvalidInput
    return error_class(message, errors=[str(problem) for problem in found])
