"""The README and docs/: their tables equal what ``scripts/render_tables.py`` renders from the
JSON records, every relative link and image points at a file that exists, and the README
stays a short front door with the two Quick-start commands. The prose itself is not tested."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_README_LINES = 150
MAX_README_WORDS = 1800
QUICK_START_COMMANDS = [
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt -e . && "
    ".venv/bin/python -m emotion_classification predict",
    ".venv/bin/python -m pytest",
]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "data" / "README.md"]


def render_tables():
    """The renderer module."""
    from emotion_classification.evaluation import tables

    return tables


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces to
    hyphens."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    headings = re.findall(r"^#+\s+(.+)$", prose, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_tables_equal_what_the_records_render():
    renderer = render_tables()
    stale = []
    for path in DOCUMENTS:
        text = path.read_text()
        names = [m[2] for m in renderer.MARKER.finditer(text)]
        assert all(name in renderer.TABLES for name in names), (path, names)
        if renderer.render(text) != text:
            stale.append(path.relative_to(ROOT).as_posix())
    assert not stale, f"stale tables in {stale}: run python scripts/render_tables.py --write"


def test_readme_has_its_results_table():
    assert "<!-- table:results -->" in (ROOT / "README.md").read_text()


def test_check_mode_names_a_stale_table(tmp_path, monkeypatch, capsys):
    renderer = render_tables()
    doc = tmp_path / "README.md"
    doc.write_text("<!-- table:export -->\n| old |\n<!-- /table:export -->\n")
    monkeypatch.setattr(renderer, "ROOT", tmp_path)
    monkeypatch.setattr(renderer, "DOCUMENTS", ["README.md"])
    monkeypatch.setattr(renderer, "load", lambda path: {"results": []})
    assert renderer.main(["--check"]) == 1
    assert "README.md: export" in capsys.readouterr().err
    assert renderer.main(["--write"]) == 0
    assert renderer.main(["--check"]) == 0
    assert "| old |" not in doc.read_text()


def test_a_missing_record_is_one_error_line(tmp_path, monkeypatch, capsys):
    renderer = render_tables()
    (tmp_path / "README.md").write_text("<!-- table:export -->\n<!-- /table:export -->\n")
    monkeypatch.setattr(renderer, "ROOT", tmp_path)
    monkeypatch.setattr(renderer, "DOCUMENTS", ["README.md"])
    assert renderer.main(["--check"]) == 2
    assert capsys.readouterr().err.startswith("error: README.md: ")


def test_readme_is_short():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= MAX_README_LINES
    assert len(text.split()) < MAX_README_WORDS


def test_quick_start_has_the_two_commands():
    text = (ROOT / "README.md").read_text()
    quick_start = text[text.index("## Quick start"):].split("\n## ")[0]
    for command in QUICK_START_COMMANDS:
        assert f"\n{command}\n" in quick_start, command


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_and_images_exist(path):
    text = path.read_text()
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(target)
    assert not broken, f"{path.name}: links to nothing: {broken}"
