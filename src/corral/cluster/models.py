"""What Corral knows of a node: its name, labels, liveness and inventory (CPUs, memory, GPUs, models).

Plain values, shared by routing (which reads GPUs, labels and liveness), the REST API, MCP tools and
the event stream. Sizes are MiB, loads the one-minute average.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter

ModelServerKind = Literal["ollama", "openai"]


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total_mib: int
    memory_free_mib: int
    utilisation_pct: int | None = None
    uuid: str | None = None


@dataclass(frozen=True)
class GpuReport:
    """The node's GPUs; when none can be seen, ``reason`` says why (e.g. NVML is not installed)."""

    gpus: tuple[Gpu, ...] = ()
    reason: str | None = None
    driver: str | None = None
    """The NVIDIA driver's version, when NVML answered."""


@dataclass(frozen=True)
class LocalModel:
    """A model served on the node by a local model server (Ollama, or an OpenAI-compatible one)."""

    name: str
    endpoint: str
    kind: ModelServerKind
    loaded: bool = False
    """Loaded in memory now (Ollama's ``/api/ps``); an OpenAI-compatible server's models count as loaded."""
    size_mib: int | None = None
    parameter_size: str | None = None
    """As the server states it, e.g. ``8.0B``."""
    quantization: str | None = None
    """As the server states it, e.g. ``Q4_K_M``."""


@dataclass(frozen=True)
class Inventory:
    taken_at: datetime
    cpus: int
    load1: float | None
    memory_total_mib: int | None
    memory_available_mib: int | None
    gpus: GpuReport = field(default_factory=GpuReport)
    models: tuple[LocalModel, ...] = ()
    model_errors: tuple[str, ...] = ()
    """Model endpoints that could not be probed, each with the reason."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    labels: dict[str, str]
    builtin: bool
    alive: bool
    boot_id: str
    joined_at: datetime
    inventory: Inventory | None = None
    lost_reason: str | None = None
    servers: tuple[str, ...] = ()
    """The MCP servers this node runs."""

    def to_json(self) -> dict[str, Any]:
        """The node as JSON: the one shape REST, MCP tools and the event stream share."""
        answer: dict[str, Any] = _NODE_INFO.dump_python(self, mode="json")
        return answer


_NODE_INFO: TypeAdapter[NodeInfo] = TypeAdapter(NodeInfo)
