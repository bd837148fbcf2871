"""Routing is a pure choice: tested on values, without servers or clocks."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from corral.clock import ManualClock
from corral.cluster.models import Gpu
from corral.registry.models import GpuNeed
from corral.tasks.routing import Candidate, Requirement, Router


def agent(name: str, **changes: object) -> Candidate:
    base = Candidate(
        agent_id=f"box/{name}",
        node="box",
        server=name,
        tools=frozenset({"review"}),
        capabilities=frozenset({"code-review"}),
        max_concurrent=2,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_equal_agents_take_turns_instead_of_the_first_taking_everything() -> None:
    router = Router()
    agents = [agent("a"), agent("b"), agent("c")]
    firsts = Counter(
        router.rank(Requirement(capability="code-review"), agents).eligible[0].server for _ in range(9)
    )
    assert firsts == {"a": 3, "b": 3, "c": 3}


def test_the_least_loaded_agent_comes_first_and_a_full_one_is_refused_as_busy() -> None:
    ranking = Router().rank(
        Requirement(tool="review"),
        [agent("a", in_flight=1), agent("b"), agent("c", in_flight=2)],
    )
    assert [item.server for item in ranking.eligible] == ["b", "a"]
    assert [(refusal.agent_id, refusal.reason, refusal.transient) for refusal in ranking.refused] == [
        ("box/c", "busy (2 of 2 running)", True)
    ]


def test_preferred_labels_and_a_loaded_model_outrank_load() -> None:
    requirement = Requirement(tool="review", preferred_labels={"zone": "eu"}, model="llama3")
    ranking = Router().rank(
        requirement,
        [
            agent("idle", models=frozenset({"llama3"})),
            agent("eu", in_flight=1, labels={"zone": "eu"}, models=frozenset({"llama3"})),
            agent("loaded", in_flight=1, models=frozenset({"llama3"}), loaded_models=frozenset({"llama3"})),
        ],
    )
    assert [item.server for item in ranking.eligible] == ["loaded", "eu", "idle"]


def test_hard_filters_name_the_reason_for_each_agent() -> None:
    need = GpuNeed(count=1, min_memory_mib=16 * 1024)
    ranking = Router().rank(
        Requirement(capability="code-review", gpu=need),
        [
            agent("gpu-box", circuit_closed=False, gpus=(Gpu(0, "A100", 40960, 30000),)),
            agent("laptop", gpu_reason="NVML unavailable: not installed"),
            agent("small", gpus=(Gpu(0, "T4", 16384, 8000),)),
        ],
    )
    assert not ranking.eligible
    assert ranking.explain() == (
        "box/gpu-box: circuit open; "
        "box/laptop: no GPU with ≥ 16 GiB free (NVML unavailable: not installed); "
        "box/small: 0 of 1 GPUs with ≥ 16 GiB free"
    )
    # The open circuit may close again: the task may wait for it.
    assert ranking.may_wait


def test_nothing_to_wait_for_when_no_agent_could_ever_take_the_task() -> None:
    ranking = Router().rank(
        Requirement(tool="review", labels={"os": "linux"}, target_machines=frozenset({"box", "other"})),
        [agent("a", labels={"os": "mac"}), agent("b", node="elsewhere")],
    )
    assert not ranking.eligible and not ranking.may_wait
    assert (
        ranking.explain()
        == "box/a: label os=linux missing; box/b: on node 'elsewhere', not one of the target machines"
    )


def test_a_namespaced_tool_names_its_server_and_tried_agents_come_last_of_all() -> None:
    agents = [agent("a"), agent("b")]
    assert [item.server for item in Router().rank(Requirement(tool="b__review"), agents).eligible] == ["b"]
    ranking = Router().rank(Requirement(tool="review", exclude=frozenset({"box/a"})), agents)
    assert [item.server for item in ranking.eligible] == ["b"]
    assert ranking.refused[0].reason == "already tried for this task"


def test_down_agents_and_dead_nodes_are_refused_but_may_come_back() -> None:
    ranking = Router().rank(
        Requirement(tool="review"),
        [agent("a", serving=False, status="disconnected"), agent("b", node_alive=False)],
    )
    assert [(refusal.reason, refusal.transient) for refusal in ranking.refused] == [
        ("server is disconnected", True),
        ("node 'box' is not alive", True),
    ]


def test_a_project_limits_routing_to_its_agents() -> None:
    ranking = Router().rank(
        Requirement(tool="review", project="web"), [agent("a", project="web"), agent("b", project="ml")]
    )
    assert [item.server for item in ranking.eligible] == ["a"]


def test_a_node_not_heard_from_for_longer_than_its_ttl_is_gone_until_it_speaks_again() -> None:
    clock = ManualClock()
    router = Router(clock, node_ttl_s=2.0)
    remote = agent("far", node="gpu-box", agent_id="gpu-box/far", node_seen_at=clock.monotonic())

    clock.advance(1.5)
    assert [item.server for item in router.rank(Requirement(tool="review"), [remote]).eligible] == ["far"]
    clock.advance(1.0)
    ranking = router.rank(Requirement(tool="review"), [remote])
    assert ranking.explain() == "gpu-box/far: node 'gpu-box' not heard from for 2.5s" and ranking.may_wait
    heard = replace(remote, node_seen_at=clock.monotonic())
    assert router.rank(Requirement(tool="review"), [heard]).eligible
