"""The README's Results, Model card and Speed sections are what ``scripts/readme_tables.py``
prints from the committed JSON records: a number changed in one and not the other fails here."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generated_sections() -> str:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import readme_tables
    finally:
        sys.path.pop(0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        readme_tables.main()
    return out.getvalue()


def test_readme_sections_match_the_committed_records():
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index("## Results"), readme.index("## Using it")
    assert readme[start:end] == generated_sections(), (
        "README.md differs from scripts/readme_tables.py's output: rerun it and paste its "
        "output between '## Results' and '## Using it'")
