"""A stdio server that cannot be started: the error names what is missing, on either event loop."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from corral.upstream.logs import LogBuffer
from corral.upstream.stdio import stdio_transport

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[pytest.param(False, id="asyncio"), pytest.param(True, id="uvloop")])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return "asyncio", {"use_uvloop": request.param}


async def spawn_error(command: str, cwd: str | None) -> OSError:
    with pytest.raises(OSError) as raised:
        async with stdio_transport(
            command, (), {}, cwd, LogBuffer(), lambda: datetime.now(UTC), lambda _: None
        ):
            pass
    return raised.value


async def test_a_missing_command_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-server")
    error = await spawn_error(missing, None)
    assert isinstance(error, FileNotFoundError)
    assert missing in str(error)


async def test_a_missing_working_directory_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-directory")
    error = await spawn_error(sys.executable, missing)
    assert isinstance(error, FileNotFoundError)
    assert missing in str(error)
