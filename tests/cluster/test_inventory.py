"""Taking an inventory on this machine: no NVML here, memory from /proc, models from real HTTP servers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from corral.clock import ManualClock
from corral.cluster.inventory import (
    changed,
    memory_within_limit,
    nvidia_gpus,
    parse_meminfo,
    parse_ollama_tags,
    probe_models,
    read_memory,
    take_inventory,
)
from corral.cluster.models import Gpu, GpuReport, LocalModel
from corral.config.settings import ModelEndpoint
from tests.cluster.model_server import OLLAMA, OLLAMA_TAGS, OPENAI, model_server
from tests.support import free_port

pytestmark = pytest.mark.anyio

PATIENT_S = 10.0
"""The probes' timeout where an answer is expected: the machine running the tests may be busy."""

MEMINFO = """MemTotal:       24683772 kB
MemFree:        20826712 kB
MemAvailable:   22877084 kB
Buffers:          123456 kB
"""


def test_without_nvml_the_node_reports_no_gpus_and_says_why() -> None:
    report = nvidia_gpus()
    if report.gpus:
        pytest.skip("this machine has NVIDIA GPUs")

    assert report.gpus == ()
    assert report.reason is not None
    assert report.reason.startswith("NVML unavailable: ")
    assert "Not Found" in report.reason  # NVMLError_LibraryNotFound: no driver library here


def test_meminfo_gives_total_and_available_memory_in_mib() -> None:
    assert parse_meminfo(MEMINFO) == (24105, 22340)
    assert parse_meminfo("MemTotal: 2048 kB\n") == (2, None)
    assert parse_meminfo("nothing useful") == (None, None)


def test_a_cgroup_memory_limit_caps_what_the_node_reports() -> None:
    gib = 1024 * 1024 * 1024
    assert memory_within_limit(24105, 22340, 4 * gib, 1 * gib) == (4096, 3072)
    assert memory_within_limit(24105, 22340, None, 1 * gib) == (24105, 22340)
    assert memory_within_limit(24105, 22340, 64 * gib, 1 * gib) == (24105, 22340)
    assert memory_within_limit(24105, 1000, 4 * gib, 1 * gib) == (4096, 1000)


def test_memory_is_read_from_proc_and_a_cgroup_folder(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(MEMINFO)
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{2 * 1024**3}\n")
    (cgroup / "memory.current").write_text(f"{512 * 1024**2}\n")

    assert read_memory(meminfo, tmp_path / "no-cgroup") == (24105, 22340)
    assert read_memory(meminfo, cgroup) == (2048, 1536)
    (cgroup / "memory.max").write_text("max\n")
    assert read_memory(meminfo, cgroup) == (24105, 22340)
    assert read_memory(tmp_path / "missing", cgroup) == (None, None)


async def test_an_ollama_probe_lists_its_models_and_marks_the_loaded_one() -> None:
    with model_server(dict(OLLAMA)) as ollama:
        models, errors = await probe_models([ModelEndpoint(kind="ollama", url=ollama.url)], PATIENT_S)

    assert errors == ()
    assert models == (
        LocalModel(
            name="deepseek-r1:latest",
            endpoint=ollama.url,
            kind="ollama",
            loaded=False,
            size_mib=4466,
            parameter_size="7.6B",
            quantization="Q4_K_M",
        ),
        LocalModel(
            name="llama3.2:latest",
            endpoint=ollama.url,
            kind="ollama",
            loaded=True,
            size_mib=1925,
            parameter_size="3.2B",
            quantization="Q4_K_M",
        ),
    )


async def test_an_openai_compatible_probe_lists_the_served_models_as_loaded() -> None:
    with model_server(dict(OPENAI)) as vllm:
        models, errors = await probe_models([ModelEndpoint(kind="openai", url=vllm.url + "/")], PATIENT_S)

    assert errors == ()
    assert models == (
        LocalModel(name="meta-llama/Llama-3.1-8B-Instruct", endpoint=vllm.url, kind="openai", loaded=True),
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_endpoints_that_cannot_be_asked_are_reported_with_the_reason_and_the_rest_still_counts() -> (
    None
):
    closed = f"http://127.0.0.1:{free_port()}"
    with model_server(dict(OLLAMA)) as ollama, model_server({"/v1/models": b"<html>"}) as broken:
        models, errors = await probe_models(
            [
                ModelEndpoint(kind="ollama", url=closed),
                ModelEndpoint(kind="openai", url=ollama.url),  # wrong kind: no /v1/models there
                ModelEndpoint(kind="openai", url=broken.url),
                ModelEndpoint(kind="ollama", url=ollama.url),
            ],
            PATIENT_S,
        )

    assert [model.name for model in models] == ["deepseek-r1:latest", "llama3.2:latest"]
    assert len(errors) == 3
    assert errors[0].startswith(f"ollama {closed}: cannot connect")
    assert errors[1] == f"openai {ollama.url}: GET {ollama.url}/v1/models answered HTTP 404"
    assert errors[2] == f"openai {broken.url}: GET {broken.url}/v1/models: the answer is not JSON"


async def test_an_endpoint_that_never_answers_is_given_up_on_after_the_timeout(silent_port: int) -> None:
    silent = f"http://127.0.0.1:{silent_port}"

    with anyio.fail_after(PATIENT_S):
        models, errors = await probe_models([ModelEndpoint(kind="openai", url=silent)], 0.3)

    assert models == ()
    assert errors == (f"openai {silent}: no answer within 0.3 s",)


async def test_an_answer_of_the_wrong_shape_is_an_error_not_an_exception() -> None:
    with model_server({"/api/tags": {"models": "none"}, "/api/ps": {"models": []}}) as odd:
        models, errors = await probe_models([ModelEndpoint(kind="ollama", url=odd.url)], PATIENT_S)

    assert models == ()
    assert errors == (f"ollama {odd.url}: unexpected answer: no 'models' list of objects",)


def test_ollama_entries_without_details_still_count() -> None:
    body = {"models": [{"model": "tiny:latest"}]}
    assert parse_ollama_tags(body, "http://x", loaded=["tiny:latest"]) == [
        LocalModel(name="tiny:latest", endpoint="http://x", kind="ollama", loaded=True)
    ]


async def test_an_inventory_of_this_machine_has_cpus_memory_and_a_gpu_report() -> None:
    clock = ManualClock()
    with model_server(dict(OLLAMA)) as ollama:
        inventory = await take_inventory([ModelEndpoint(kind="ollama", url=ollama.url)], PATIENT_S, clock)

    assert inventory.taken_at == clock.now()
    assert inventory.cpus >= 1
    assert inventory.load1 is None or inventory.load1 >= 0
    assert inventory.memory_total_mib is not None and inventory.memory_total_mib > 0
    assert inventory.memory_available_mib is not None
    assert inventory.memory_available_mib <= inventory.memory_total_mib
    assert inventory.gpus.gpus or inventory.gpus.reason
    assert len(inventory.models) == len(OLLAMA_TAGS["models"])
    assert inventory.model_errors == ()


async def test_load_and_free_memory_moving_is_no_change_but_models_gpus_and_memory_total_are() -> None:
    base = await take_inventory([], 1.0, ManualClock())
    gpu = Gpu(index=0, name="NVIDIA A100", memory_total_mib=40960, memory_free_mib=40000, utilisation_pct=3)
    with_gpu = replace(base, gpus=GpuReport(gpus=(gpu,), driver="550.54"))
    model = LocalModel(name="llama3.2:latest", endpoint="http://x", kind="ollama")

    assert changed(None, base)
    assert not changed(base, replace(base, load1=(base.load1 or 0) + 3.0, memory_available_mib=1))
    assert not changed(with_gpu, replace(with_gpu, gpus=GpuReport(
        gpus=(replace(gpu, memory_free_mib=100, utilisation_pct=99),), driver="550.54"
    )))  # fmt: skip
    assert changed(base, with_gpu)
    assert changed(base, replace(base, memory_total_mib=(base.memory_total_mib or 0) + 1024))
    assert changed(base, replace(base, models=(model,)))
    assert changed(replace(base, models=(model,)), replace(base, models=(replace(model, loaded=True),)))
    assert changed(base, replace(base, model_errors=("ollama http://x: cannot connect",)))
