"""The command's help: every group and command explains itself and exits 0."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from corral import __version__


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--help"], ["serve", "servers", "import", "db"]),
        (["serve", "--help"], ["--config", "--data-dir", "--host", "--port", "--database-url", "--no-auth"]),
        (["servers", "--help"], ["list", "show", "logs", "restart", "enable", "disable"]),
        (["db", "--help"], ["upgrade"]),
        (["import", "--help"], ["--into", "--replace"]),
    ],
    ids=["corral", "serve", "servers", "db", "import"],
)
def test_help_exits_0_and_lists_the_commands_and_options(
    cli: Callable[..., Result], args: list[str], mentions: list[str]
) -> None:
    result = cli(*args)

    assert result.exit_code == 0
    for word in mentions:
        assert word in result.stdout


def test_version_prints_the_package_version(cli: Callable[..., Result]) -> None:
    result = cli("--version")

    assert (result.exit_code, result.stdout.strip()) == (0, f"corral {__version__}")
