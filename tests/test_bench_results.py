"""bench/RESULTS.md is shared by every benchmark: a rerun rewrites its own section only, and
keeps the hand-written notes at the end of it."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("results_file", ROOT / "bench" / "results_file.py")
results_file = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results_file)

BEFORE = """# Benchmark results

## Ingestion (bench-ingest)

old ingestion table

## Serving (bench-serve)

Date: yesterday
| old | table |

### Notes

Spread over five runs: kept by hand.

## Quality (bench-quality)

quality table
"""


def test_a_rerun_replaces_its_section_and_keeps_its_notes(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(BEFORE)
    results_file.write_section("## Serving (bench-serve)\n\nDate: today\n| new | table |\n", path)
    assert path.read_text() == BEFORE.replace(
        "Date: yesterday\n| old | table |", "Date: today\n| new | table |"
    )


def test_a_section_without_notes_is_replaced_whole_and_others_stay(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(BEFORE)
    results_file.write_section("## Quality (bench-quality)\n\nnew quality table", path)
    assert path.read_text() == BEFORE.replace("quality table", "new quality table")
    results_file.write_section("## Ingestion (bench-ingest)\n\nnew ingestion table\n", path)
    assert path.read_text().startswith("# Benchmark results\n\n## Ingestion (bench-ingest)\n\n")
    assert "old ingestion" not in path.read_text() and "Spread over five runs" in path.read_text()


def test_a_new_section_is_appended(tmp_path):
    path = tmp_path / "RESULTS.md"
    results_file.write_section("## Serving (bench-serve)\n\ntable\n", path)
    assert path.read_text() == "# Benchmark results\n\n## Serving (bench-serve)\n\ntable\n"
