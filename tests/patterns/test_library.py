"""The pattern library: the built-ins load, and a bad file in the patterns folder is reported and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from corral.errors import NotFound
from corral.patterns.library import PatternLibrary

GOOD = {
    "id": "say-hello",
    "name": "Say hello",
    "target": "server",
    "preconditions": ["exists", {"has_tool": "echo"}],
    "workflow": {
        "steps": [
            {
                "id": "hello",
                "tool": "corral__call_tool",
                "args": {"server": "{{ target }}", "tool": "echo", "args": {"text": "hi"}},
            }
        ]
    },
}


def write(folder: Path, name: str, content: object) -> Path:
    path = folder / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def test_the_built_in_patterns_load_without_problems() -> None:
    library = PatternLibrary.load()

    assert [pattern.id for pattern in library.all()] == [
        "restart-and-verify",
        "rolling-restart",
        "smoke-test",
    ]
    assert library.problems == []
    assert library.get("rolling-restart").target == "tag"
    assert library.source("smoke-test") == "builtin/smoke-test.yaml"


def test_patterns_from_a_folder_load_beside_the_built_ins(tmp_path: Path) -> None:
    write(tmp_path, "hello.yaml", GOOD)
    write(tmp_path, "notes.txt", "not a pattern")

    library = PatternLibrary.load(tmp_path)

    assert library.get("say-hello").preconditions[1].label == "has_tool: echo"
    assert len(library.all()) == 4 and library.problems == []


def test_a_bad_file_is_reported_with_its_file_and_key_and_skipped(tmp_path: Path) -> None:
    write(tmp_path, "a-good.yaml", GOOD)
    syntax = write(tmp_path, "b-syntax.yaml", "id: broken\nname: [unclosed\n")
    schema = write(
        tmp_path,
        "c-schema.yml",
        {
            **GOOD,
            "id": "Bad Id",
            "target": "planet",
            "preconditions": ["exists", {"has_tool": None}, "sunny"],
        },
    )
    template = write(
        tmp_path,
        "d-template.yaml",
        {**GOOD, "id": "bad-template", "workflow": {"steps": [{"id": "a", "tool": "corral__nope"}]}},
    )
    duplicate = write(tmp_path, "e-duplicate.yaml", {**GOOD, "id": "smoke-test"})
    scalar = write(tmp_path, "f-scalar.yaml", "just a string")

    library = PatternLibrary.load(tmp_path)

    assert [pattern.id for pattern in library.all()] == [
        "restart-and-verify", "rolling-restart", "say-hello", "smoke-test",
    ]  # fmt: skip
    problems = [(problem.file, problem.key, problem.message) for problem in library.problems]
    assert problems[0][:2] == (str(syntax), "line 3") and problems[0][2].startswith("not valid YAML")
    keys = [(file, key) for file, key, _ in problems[1:]]
    assert keys == [
        (str(schema), "id"),
        (str(schema), "target"),
        (str(schema), "preconditions.1"),
        (str(schema), "preconditions.2.kind"),
        (str(template), "workflow.steps.a.tool"),
        (str(duplicate), "id"),
        (str(scalar), ""),
    ]
    messages = dict(zip(keys, [message for *_, message in problems[1:]], strict=True))
    assert messages[(str(schema), "preconditions.1")] == "'has_tool' needs a value, e.g. 'has_tool: name'"
    assert messages[(str(template), "workflow.steps.a.tool")] == "server 'corral' has no tool 'nope'"
    assert messages[(str(duplicate), "id")] == "'smoke-test' is already defined by builtin/smoke-test.yaml"
    assert str(library.problems[-1]).startswith(f"{scalar}: a pattern file holds one mapping")


def test_a_missing_folder_is_a_problem_not_a_failure(tmp_path: Path) -> None:
    library = PatternLibrary.load(tmp_path / "nowhere")

    assert len(library.all()) == 3
    assert [problem.message for problem in library.problems] == ["not a folder; no patterns loaded from it"]


def test_an_unknown_pattern_is_not_found_and_the_message_lists_the_known_ones() -> None:
    with pytest.raises(NotFound, match="known: restart-and-verify, rolling-restart, smoke-test"):
        PatternLibrary.load().get("nope")
