"""A stand-in for ``pynvml`` at the hardware boundary: the few NVML calls the inventory makes.

No GPU is at hand where the tests run, so the path with GPUs is driven through this (as Ray's tests do
with their ``mock_pynvml``); the path without NVML is tested against the real ``pynvml``.
Figures follow what NVML answers for an A100 40GB: bytes for memory, percent for utilisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class NVMLError(Exception):
    pass


@dataclass(frozen=True)
class Device:
    name: str | bytes
    uuid: str
    total: int
    free: int
    utilisation: int | None
    """None: the device answers NVML_ERROR_NOT_SUPPORTED (a MIG slice, some vGPUs)."""


@dataclass(frozen=True)
class _Memory:
    total: int
    free: int
    used: int


@dataclass(frozen=True)
class _Utilisation:
    gpu: int
    memory: int


@dataclass
class FakeNvml:
    devices: list[Device]
    driver: str = "550.54.15"
    fail_on_index: int | None = None
    initialised: bool = False
    shut_down: int = field(default=0)
    NVMLError: type[NVMLError] = NVMLError

    def nvmlInit(self) -> None:
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.shut_down += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Device:
        if index == self.fail_on_index:
            raise NVMLError("GPU is lost")
        return self.devices[index]

    def nvmlDeviceGetName(self, handle: Device) -> str | bytes:
        return handle.name

    def nvmlDeviceGetUUID(self, handle: Device) -> str:
        return handle.uuid

    def nvmlDeviceGetMemoryInfo(self, handle: Device) -> _Memory:
        return _Memory(handle.total, handle.free, handle.total - handle.free)

    def nvmlDeviceGetUtilizationRates(self, handle: Device) -> _Utilisation:
        if handle.utilisation is None:
            raise NVMLError("Not Supported")
        return _Utilisation(handle.utilisation, 0)
