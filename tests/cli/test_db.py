"""``corral db upgrade`` on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.script import ScriptDirectory
from click.testing import Result

from corral.db.migrate import alembic_config, head_revision


def test_db_upgrade_migrates_the_store_and_prints_the_revision(
    store_url: str, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    first = cli("db", "upgrade", "--database-url", store_url, "--data-dir", str(tmp_path / "data"))
    again = cli("db", "upgrade", "--database-url", store_url, "--data-dir", str(tmp_path / "data"))

    assert (first.exit_code, again.exit_code) == (0, 0)
    assert first.stdout == again.stdout == f"store at revision {head}\n"


def test_db_upgrade_uses_sqlite_in_the_data_directory_by_default(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    result = cli("db", "upgrade", "--data-dir", str(tmp_path / "data"))

    assert result.exit_code == 0
    assert result.stdout.startswith("store at revision ")
    assert (tmp_path / "data" / "corral.db").is_file()


def test_every_migration_is_named_after_its_revision_so_the_head_is_known_without_alembic() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    for script in scripts.walk_revisions():
        assert script.path is not None and Path(script.path).name.startswith(f"{script.revision}_")
    assert scripts.get_heads() == [head_revision()]
