"""The one place benchmarks write their figures: their own section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
INTRO = (
    "# Benchmarks\n\n"
    "Figures measured on a real hub (`corral serve` subprocess on 127.0.0.1) with the project's\n"
    "test servers. Each section says how it was produced; rerun its command to refresh it.\n"
    "See `bench/README.md`.\n"
)


def write_section(heading: str, text: str) -> None:
    """Replace the section under ``heading`` (or append it), re-reading the file first.

    Several benchmarks may run at once, each owning one section; the others are left as they are.
    """
    existing = DOCS.read_text() if DOCS.exists() else INTRO
    start = existing.find(f"\n{heading}\n")
    if start == -1 and existing.startswith(f"{heading}\n"):
        start = 0
    if start == -1:
        updated = existing.rstrip("\n") + "\n\n" + text
    else:
        start += 0 if start == 0 else 1
        after = existing.find("\n## ", start + len(heading))
        tail = "" if after == -1 else "\n" + existing[after + 1 :]
        updated = existing[:start] + text.rstrip("\n") + "\n" + tail
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(updated.rstrip("\n") + "\n")
