"""bench/RESULTS.md: each benchmark owns one ``## `` section and a rerun rewrites only that one.

A section may end with hand-written notes under a ``### Notes`` heading (the spread over runs,
what was tried and why): a rerun replaces the generated part above them and keeps the notes.
"""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
NOTES_HEADING = "### Notes"


def write_section(section: str, path: Path = RESULTS) -> None:
    """Replace the section headed by ``section``'s first line, or append it (the file is
    re-read right before writing, since several benchmarks share it)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    generated = section.strip("\n") + "\n"
    heading = generated.splitlines()[0]
    found = re.search(rf"^{re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if found is None:
        path.write_text(text.rstrip("\n") + "\n\n" + generated)
        return
    notes = re.search(rf"^{re.escape(NOTES_HEADING)}.*", found.group(1), re.S | re.M)
    kept = "\n" + notes.group(0).strip("\n") + "\n" if notes else ""
    following = text[found.end() :]
    path.write_text(
        text[: found.start()] + generated + kept + ("\n" + following if following else "")
    )
