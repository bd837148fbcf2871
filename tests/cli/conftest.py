"""Running the ``corral`` command: Typer's CliRunner, the real entry point in process, or a real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from corral.cli.main import app, main
from tests.support import VENV_BIN


@dataclass(frozen=True)
class Exited:
    """How a ``corral`` run ended; ``err`` has Rich's line wrapping undone."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``cli("servers", "list", ...)``: the Typer app under CliRunner, from an empty working directory.

    The terminal is wide so that Rich's tables show whole values (at 80 columns it shortens them).
    """
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"COLUMNS": "200"})

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def corral(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Exited]:
    """``corral("servers", "show", "x")``: the console script's entry point, exit code included."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Exited:
        monkeypatch.setattr(sys, "argv", ["corral", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        code = exited.value.code
        return Exited(code if isinstance(code, int) else 0 if code is None else 1, out, " ".join(err.split()))

    return run


@pytest.fixture
def corral_process(tmp_path: Path) -> Callable[..., Exited]:
    """``corral_process("serve", ...)``: the installed ``corral`` script as its own process."""

    def run(*args: str) -> Exited:
        done = subprocess.run(
            [str(VENV_BIN / "corral"), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Exited(done.returncode, done.stdout, " ".join(done.stderr.split()))

    return run
