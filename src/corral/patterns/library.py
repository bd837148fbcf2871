"""The patterns the hub knows: the built-ins shipped in the package, and more from a folder of YAML files.

Every file holds one pattern. A file that cannot be read, does not fit the
pattern schema, or whose workflow template the engine would refuse is reported
(file, key, message; logged and listed with the patterns) and skipped: one bad
file never keeps the hub from starting, nor hides the other patterns. An id
already taken (by a built-in or an earlier file) is reported the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from corral import strict
from corral.errors import NotFound
from corral.patterns.actions import ACTIONS
from corral.patterns.instantiation import check_template
from corral.patterns.models import Pattern
from corral.workflow.validation import ToolState

logger = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml")
BUILTIN_SOURCE = "builtin"


@dataclass(frozen=True)
class LoadProblem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}" if self.key else f"{self.file}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key, "message": self.message}


class PatternLibrary:
    def __init__(self) -> None:
        self._patterns: dict[str, Pattern] = {}
        self._sources: dict[str, str] = {}
        self.problems: list[LoadProblem] = []

    @classmethod
    def load(cls, folder: Path | None = None) -> PatternLibrary:
        """The built-ins, then every ``*.yaml``/``*.yml`` of ``folder`` in name order."""
        library = cls()
        builtin = resources.files("corral.patterns") / "builtin"
        for entry in sorted(builtin.iterdir(), key=lambda item: item.name):
            if entry.name.endswith(SUFFIXES):
                library.add_text(f"{BUILTIN_SOURCE}/{entry.name}", entry.read_text(encoding="utf-8"))
        if folder is not None:
            library.add_folder(folder)
        for problem in library.problems:
            logger.warning("pattern skipped: %s", problem)
        return library

    def add_folder(self, folder: Path) -> None:
        if not folder.is_dir():
            self.problems.append(LoadProblem(str(folder), "", "not a folder; no patterns loaded from it"))
            return
        for path in sorted(folder.iterdir()):
            if path.suffix in SUFFIXES and path.is_file():
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    self.problems.append(LoadProblem(str(path), "", f"cannot read: {exc}"))
                    continue
                self.add_text(str(path), text)

    def add_text(self, source: str, text: str) -> Pattern | None:
        """Parse and check one file's pattern; the pattern, or None with the problems recorded."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else ""
            self.problems.append(LoadProblem(source, where, f"not valid YAML: {_first_line(exc)}"))
            return None
        if not isinstance(document, dict):
            self.problems.append(LoadProblem(source, "", "a pattern file holds one mapping (id, name, ...)"))
            return None
        return self.add_document(source, document)

    def add_document(self, source: str, document: dict[str, Any]) -> Pattern | None:
        try:
            pattern = Pattern.model_validate(document)
        except ValidationError as exc:
            self.problems.extend(
                LoadProblem(source, problem.field, problem.message)
                for problem in strict.problems(exc.errors())
            )
            return None
        template_problems = check_template(pattern, _ACTION_STATES)
        if template_problems:
            self.problems.extend(_split(source, problem) for problem in template_problems)
            return None
        if pattern.id in self._patterns:
            self.problems.append(
                LoadProblem(source, "id", f"{pattern.id!r} is already defined by {self._sources[pattern.id]}")
            )
            return None
        self._patterns[pattern.id] = pattern
        self._sources[pattern.id] = source
        return pattern

    def all(self) -> list[Pattern]:
        return [self._patterns[pattern_id] for pattern_id in sorted(self._patterns)]

    def get(self, pattern_id: str) -> Pattern:
        """Raises: NotFound."""
        try:
            return self._patterns[pattern_id]
        except KeyError:
            known = ", ".join(sorted(self._patterns)) or "none"
            raise NotFound(f"no pattern {pattern_id!r} (known: {known})") from None

    def source(self, pattern_id: str) -> str:
        return self._sources[pattern_id]


_ACTION_STATES: dict[str, ToolState] = dict.fromkeys(ACTIONS, "ok")


def _split(source: str, problem: str) -> LoadProblem:
    key, _, message = problem.partition(": ")
    return LoadProblem(source, key, message)


def _first_line(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).splitlines()[0]
