"""Taking a node's inventory: CPUs, load, memory, NVIDIA GPUs and the models local servers serve.

The parsers (``/proc/meminfo``, cgroup limits, Ollama's and OpenAI-compatible answers) are pure
functions; the probes around them do the I/O and never raise for what they find missing: no NVML
gives a ``GpuReport`` with the reason, an endpoint that cannot be asked gives a line in
``model_errors``. When to take an inventory, and whom to tell, is ``cluster/builtin.py``'s business.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from corral.clock import Clock
from corral.cluster.models import Gpu, GpuReport, Inventory, LocalModel
from corral.config.settings import ModelEndpoint

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
MEMINFO = Path("/proc/meminfo")
CGROUP = Path("/sys/fs/cgroup")
MAX_ANSWER_BYTES = 4 * MIB
"""A model server's answer larger than this is refused rather than read into memory."""


class ProbeError(Exception):
    """A model endpoint's answer that is not what its kind of server sends; the message says how."""


# -- memory --------------------------------------------------------------------------------------


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """``MemTotal`` and ``MemAvailable`` of ``/proc/meminfo`` in MiB (None for what is missing)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if key in ("MemTotal", "MemAvailable") and fields and fields[0].isdigit():
            kib = int(fields[0])
            values[key] = kib // 1024 if fields[1:] == ["kB"] else kib // MIB
    return values.get("MemTotal"), values.get("MemAvailable")


def parse_cgroup_bytes(text: str) -> int | None:
    """A cgroup v2 memory file (``memory.max``, ``memory.current``) in bytes; None for ``max`` or junk."""
    value = text.strip()
    return int(value) if value.isdigit() else None


def memory_within_limit(
    total_mib: int | None, available_mib: int | None, limit_bytes: int | None, used_bytes: int | None
) -> tuple[int | None, int | None]:
    """What a process in a memory-limited cgroup may use: the host's figures capped by the limit."""
    if limit_bytes is None or total_mib is None:
        return total_mib, available_mib
    limit_mib = limit_bytes // MIB
    if limit_mib >= total_mib:
        return total_mib, available_mib
    left = limit_mib - (used_bytes or 0) // MIB
    capped = max(0, left) if available_mib is None else max(0, min(available_mib, left))
    return limit_mib, capped


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_memory(meminfo: Path = MEMINFO, cgroup: Path = CGROUP) -> tuple[int | None, int | None]:
    """Total and available memory in MiB, within the cgroup's limit; None where it cannot be read."""
    text = _read(meminfo)
    if text is None:
        return None, None
    total, available = parse_meminfo(text)
    limit_text, used_text = _read(cgroup / "memory.max"), _read(cgroup / "memory.current")
    return memory_within_limit(
        total,
        available,
        parse_cgroup_bytes(limit_text) if limit_text is not None else None,
        parse_cgroup_bytes(used_text) if used_text is not None else None,
    )


# -- CPUs ----------------------------------------------------------------------------------------


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells it), at least one."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not on this platform
        return None


# -- GPUs ----------------------------------------------------------------------------------------


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def nvidia_gpus() -> GpuReport:
    """The NVIDIA GPUs NVML sees; without NVML (no driver, no library) none, and the reason. Blocking.

    Only the path without NVML runs where the tests run (no GPU there); the path with GPUs follows
    nvidia-ml-py's documented calls and is not exercised by them.
    """
    try:
        import pynvml as nvml
    except ImportError as exc:  # nvidia-ml-py is a dependency, but a trimmed install may lack it
        return GpuReport(reason=f"NVML unavailable: nvidia-ml-py is not installed ({exc})")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return GpuReport(reason=f"NVML unavailable: {exc}")
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = [_gpu(nvml, index) for index in range(nvml.nvmlDeviceGetCount())]
    except nvml.NVMLError as exc:
        return GpuReport(reason=f"NVML failed: {exc}")
    finally:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError as exc:
            logger.debug("NVML shutdown failed: %s", exc)
    if not gpus:
        return GpuReport(reason="NVML found no GPUs", driver=driver)
    return GpuReport(gpus=tuple(gpus), driver=driver)


def _gpu(nvml: Any, index: int) -> Gpu:
    """Raises: nvml.NVMLError."""
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    try:
        utilisation: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except nvml.NVMLError:  # not supported on every device (MIG slices, some vGPUs)
        utilisation = None
    return Gpu(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)),
        memory_total_mib=int(memory.total) // MIB,
        memory_free_mib=int(memory.free) // MIB,
        utilisation_pct=utilisation,
        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
    )


# -- local models --------------------------------------------------------------------------------


def _entries(body: Any, key: str) -> list[dict[str, Any]]:
    """Raises: ProbeError when ``body[key]`` is not a list of objects."""
    entries = body.get(key) if isinstance(body, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ProbeError(f"unexpected answer: no {key!r} list of objects")
    return entries


def _name(entry: dict[str, Any], *keys: str) -> str:
    """Raises: ProbeError when none of ``keys`` holds a non-empty string."""
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str) and value:
            return value
    raise ProbeError(f"unexpected answer: a model without {' or '.join(repr(key) for key in keys)}")


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_ollama_tags(body: Any, endpoint: str, loaded: Iterable[str] = ()) -> list[LocalModel]:
    """The models of Ollama's ``GET /api/tags``; those named in ``loaded`` (``/api/ps``) marked loaded.

    Raises: ProbeError for an answer Ollama would not send.
    """
    now = set(loaded)
    models = []
    for entry in _entries(body, "models"):
        name = _name(entry, "name", "model")
        given = entry.get("details")
        details: dict[str, Any] = given if isinstance(given, dict) else {}
        size = entry.get("size")
        models.append(
            LocalModel(
                name=name,
                endpoint=endpoint,
                kind="ollama",
                loaded=name in now or entry.get("model") in now,
                size_mib=size // MIB if isinstance(size, int) and size >= 0 else None,
                parameter_size=_optional_text(details.get("parameter_size")),
                quantization=_optional_text(details.get("quantization_level")),
            )
        )
    return models


def parse_ollama_ps(body: Any) -> set[str]:
    """The names of the models Ollama holds in memory now (``GET /api/ps``). Raises: ProbeError."""
    return {_name(entry, "name", "model") for entry in _entries(body, "models")}


def parse_openai_models(body: Any, endpoint: str) -> list[LocalModel]:
    """The models of an OpenAI-compatible ``GET /v1/models`` (vLLM, llama.cpp's server, LM Studio).

    Such a server serves what it lists, so each counts as loaded. Raises: ProbeError.
    """
    return [
        LocalModel(name=_name(entry, "id"), endpoint=endpoint, kind="openai", loaded=True)
        for entry in _entries(body, "data")
    ]


async def _get_json(client: httpx.AsyncClient, url: str) -> Any:
    """Raises: ProbeError (an HTTP error status, a body too large or not JSON); httpx errors."""
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise ProbeError(f"GET {url} answered HTTP {response.status_code}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise ProbeError(f"GET {url}: the answer is larger than {MAX_ANSWER_BYTES // MIB} MiB")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ProbeError(f"GET {url}: the answer is not JSON") from exc


async def _probe(client: httpx.AsyncClient, endpoint: ModelEndpoint) -> list[LocalModel]:
    """Raises: ProbeError; httpx errors."""
    base = endpoint.url.rstrip("/")
    if endpoint.kind == "openai":
        return parse_openai_models(await _get_json(client, f"{base}/v1/models"), base)
    tags = await _get_json(client, f"{base}/api/tags")
    loaded = parse_ollama_ps(await _get_json(client, f"{base}/api/ps"))
    return parse_ollama_tags(tags, base, loaded)


def _reason(exc: Exception, timeout_s: float) -> str:
    if isinstance(exc, ProbeError):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}" if str(exc) else "cannot connect"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def probe_models(
    endpoints: Sequence[ModelEndpoint], timeout_s: float
) -> tuple[tuple[LocalModel, ...], tuple[str, ...]]:
    """Ask each endpoint (all at once, each within ``timeout_s``) which models it serves.

    Returns the models, sorted by endpoint and name, and one line per endpoint that could not be
    asked (``"ollama http://…: cannot connect: …"``). Never raises for an endpoint's failure.
    """
    found: dict[int, list[LocalModel]] = {}
    errors: dict[int, str] = {}

    async def probe(index: int, endpoint: ModelEndpoint) -> None:
        try:
            with anyio.fail_after(timeout_s):
                found[index] = await _probe(client, endpoint)
        except (ProbeError, httpx.HTTPError, httpx.InvalidURL, TimeoutError) as exc:
            errors[index] = f"{endpoint.kind} {endpoint.url}: {_reason(exc, timeout_s)}"

    # No proxies from the environment: these are servers on this machine (or its network).
    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False, follow_redirects=False) as client:
        async with anyio.create_task_group() as tg:
            for index, endpoint in enumerate(endpoints):
                tg.start_soon(probe, index, endpoint)
    models = sorted(
        (model for index in sorted(found) for model in found[index]),
        key=lambda model: (model.endpoint, model.name),
    )
    return tuple(models), tuple(errors[index] for index in sorted(errors))


# -- the whole inventory -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Machine:
    cpus: int
    load1: float | None
    memory_total_mib: int | None
    memory_available_mib: int | None
    gpus: GpuReport


def _machine() -> _Machine:
    total, available = read_memory()
    return _Machine(usable_cpus(), load_average(), total, available, nvidia_gpus())


async def take_inventory(endpoints: Sequence[ModelEndpoint], timeout_s: float, clock: Clock) -> Inventory:
    """Measure this machine now. The blocking parts (files, NVML) run in a worker thread, which a
    cancelled caller leaves behind rather than waits for (a wedged driver must not stall shutdown)."""
    machine = await anyio.to_thread.run_sync(_machine, abandon_on_cancel=True)
    models, errors = await probe_models(endpoints, timeout_s)
    return Inventory(
        taken_at=clock.now(),
        cpus=machine.cpus,
        load1=machine.load1,
        memory_total_mib=machine.memory_total_mib,
        memory_available_mib=machine.memory_available_mib,
        gpus=machine.gpus,
        models=models,
        model_errors=errors,
    )


def shape(inventory: Inventory) -> tuple[Any, ...]:
    """What of an inventory matters to routing and to people: not load, free memory or utilisation,
    which move all the time, but CPUs, total memory, which GPUs there are, models and what failed."""
    gpus = tuple((gpu.index, gpu.name, gpu.uuid, gpu.memory_total_mib) for gpu in inventory.gpus.gpus)
    return (
        inventory.cpus,
        inventory.memory_total_mib,
        gpus,
        inventory.gpus.reason,
        inventory.gpus.driver,
        inventory.models,
        inventory.model_errors,
    )


def changed(before: Inventory | None, after: Inventory) -> bool:
    """Whether ``after`` differs from ``before`` in a way worth telling (see ``shape``)."""
    return before is None or shape(before) != shape(after)
