"""The step graph without I/O: its problems, what may run next, what a failure blocks, the critical path."""

from __future__ import annotations

from typing import Any

import pytest

from corral.workflow import dag
from corral.workflow.models import StepDefinition, StepStatus

PENDING, RUNNING, DONE = StepStatus.PENDING, StepStatus.RUNNING, StepStatus.COMPLETED
FAILED, SKIPPED = StepStatus.FAILED, StepStatus.SKIPPED


def step(step_id: str, *dependencies: str, **fields: Any) -> StepDefinition:
    return StepDefinition.model_validate(
        {"id": step_id, "tool": "echo__echo", "dependencies": list(dependencies), **fields}
    )


def statuses(steps: list[StepDefinition], **given: StepStatus) -> dict[str, StepStatus]:
    return {item.id: given.get(item.id, PENDING) for item in steps}


CHAIN = [step("a"), step("b", "a"), step("c", "b")]
DIAMOND = [step("top"), step("left", "top"), step("right", "top"), step("bottom", "left", "right")]
FAN = [step("source"), *(step(f"w{n}", "source") for n in range(4)), step("join", "w0", "w1", "w2", "w3")]


def test_a_well_formed_graph_has_no_problems() -> None:
    assert dag.graph_problems(CHAIN) == []
    assert dag.graph_problems(DIAMOND) == []
    assert dag.graph_problems(FAN) == []


def test_a_duplicate_step_id_is_a_problem_of_that_step() -> None:
    assert dag.graph_problems([step("a"), step("b"), step("a")]) == [("a", "duplicate step id")]


def test_a_dependency_on_an_unknown_step_is_named() -> None:
    assert dag.graph_problems([step("a"), step("b", "a", "ghost")]) == [
        ("b", "depends on unknown step 'ghost'")
    ]


def test_a_step_that_depends_on_itself_is_a_problem() -> None:
    assert dag.graph_problems([step("a", "a")]) == [("a", "depends on itself")]


def test_a_cycle_is_reported_once_with_its_path() -> None:
    problems = dag.graph_problems([step("start"), step("a", "start", "c"), step("b", "a"), step("c", "b")])
    assert len(problems) == 1
    where, message = problems[0]
    assert message.startswith("dependency cycle: ")
    path = message.removeprefix("dependency cycle: ").split(" → ")
    # The path closes on itself and walks every step of the cycle, and only those.
    assert path[0] == path[-1] == where
    assert set(path) == {"a", "b", "c"}
    assert len(path) == 4


def test_a_chain_runs_one_step_at_a_time() -> None:
    assert dag.ready(CHAIN, statuses(CHAIN)) == ["a"]
    assert dag.ready(CHAIN, statuses(CHAIN, a=RUNNING)) == []
    assert dag.ready(CHAIN, statuses(CHAIN, a=DONE)) == ["b"]
    assert dag.ready(CHAIN, statuses(CHAIN, a=DONE, b=DONE)) == ["c"]
    assert dag.ready(CHAIN, statuses(CHAIN, a=DONE, b=DONE, c=DONE)) == []


def test_a_diamond_runs_both_sides_together_and_joins_when_both_are_done() -> None:
    assert dag.ready(DIAMOND, statuses(DIAMOND)) == ["top"]
    assert dag.ready(DIAMOND, statuses(DIAMOND, top=DONE)) == ["left", "right"]
    assert dag.ready(DIAMOND, statuses(DIAMOND, top=DONE, left=DONE, right=RUNNING)) == []
    assert dag.ready(DIAMOND, statuses(DIAMOND, top=DONE, left=DONE, right=DONE)) == ["bottom"]


def test_a_fan_out_releases_every_worker_and_the_fan_in_waits_for_all() -> None:
    assert dag.ready(FAN, statuses(FAN, source=DONE)) == ["w0", "w1", "w2", "w3"]
    three_done = statuses(FAN, source=DONE, w0=DONE, w1=DONE, w2=DONE, w3=RUNNING)
    assert dag.ready(FAN, three_done) == []
    assert dag.ready(FAN, {**three_done, "w3": DONE}) == ["join"]


def test_a_skipped_step_lets_its_dependents_go_ahead() -> None:
    assert dag.ready(CHAIN, statuses(CHAIN, a=SKIPPED)) == ["b"]


@pytest.mark.parametrize(
    ("on_failure", "done"), [("fail", False), ("continue", True), ("skip_dependents", False)]
)
def test_only_a_failed_step_with_on_failure_continue_counts_as_done(on_failure: str, done: bool) -> None:
    assert dag.is_done(step("a", on_failure=on_failure), FAILED) is done


def test_completed_and_skipped_steps_are_done_and_running_ones_are_not() -> None:
    assert dag.is_done(step("a"), DONE)
    assert dag.is_done(step("a"), SKIPPED)
    assert not dag.is_done(step("a"), RUNNING)
    assert not dag.is_done(step("a"), PENDING)


def test_a_failure_with_on_failure_continue_releases_its_dependents() -> None:
    steps = [step("a", on_failure="continue"), step("b", "a")]
    assert dag.ready(steps, statuses(steps, a=FAILED)) == ["b"]


def test_a_failure_with_skip_dependents_blocks_everything_downstream_and_nothing_else() -> None:
    steps = [
        step("a", on_failure="skip_dependents"),
        step("b", "a"),
        step("c", "b"),
        step("d", "c", "other"),
        step("other"),
    ]
    state = statuses(steps, a=FAILED)
    assert dag.blocked_by_failure(steps, state) == {"b", "c", "d"}
    assert dag.ready(steps, state) == ["other"]


def test_only_pending_steps_are_blocked_by_a_failure() -> None:
    steps = [step("a", on_failure="skip_dependents"), step("b", "a"), step("c", "a")]
    assert dag.blocked_by_failure(steps, statuses(steps, a=FAILED, b=SKIPPED)) == {"c"}


def test_a_failure_with_on_failure_fail_or_continue_blocks_nothing() -> None:
    for policy in ("fail", "continue"):
        steps = [step("a", on_failure=policy), step("b", "a")]
        assert dag.blocked_by_failure(steps, statuses(steps, a=FAILED)) == set()


def test_remaining_time_follows_the_longest_path_through_the_graph() -> None:
    durations = {"top": 2.0, "left": 10.0, "right": 3.0, "bottom": 1.0}
    assert dag.remaining_seconds(DIAMOND, statuses(DIAMOND), durations) == 13.0


def test_remaining_time_ignores_finished_steps() -> None:
    durations = {"top": 2.0, "left": 10.0, "right": 3.0, "bottom": 1.0}
    left_done = statuses(DIAMOND, top=DONE, left=DONE)
    # Only right (3) then bottom (1) are left; the long left side is behind us.
    assert dag.remaining_seconds(DIAMOND, left_done, durations) == 4.0
    everything_done = statuses(DIAMOND, top=DONE, left=DONE, right=DONE, bottom=SKIPPED)
    assert dag.remaining_seconds(DIAMOND, everything_done, durations) == 0.0


def test_remaining_time_counts_one_second_for_a_step_without_an_estimate() -> None:
    assert dag.remaining_seconds(CHAIN, statuses(CHAIN), {"a": 5.0}) == 7.0


def test_ancestors_and_descendants_are_transitive() -> None:
    assert dag.ancestors(DIAMOND)["bottom"] == {"top", "left", "right"}
    assert dag.ancestors(DIAMOND)["top"] == set()
    assert dag.descendants(CHAIN, "a") == {"b", "c"}


def test_the_widest_level_is_the_most_steps_that_may_be_ready_together() -> None:
    assert dag.widest_level(CHAIN) == ["a"]
    assert dag.widest_level(DIAMOND) == ["left", "right"]
    assert dag.widest_level(FAN) == ["w0", "w1", "w2", "w3"]
    # Depth is the longest chain above a step: 'late' waits for 'b', so it is not beside 'b'.
    uneven = [step("a"), step("b", "a"), step("c", "a"), step("late", "a", "b")]
    assert dag.widest_level(uneven) == ["b", "c"]
