"""Shared writer for the generated notebooks: cells in, clean ``.ipynb`` (no outputs) out.

Each ``make_notebook_*.py`` script lists its cells as ``(kind, source)`` pairs, kind one of
``markdown``, ``parameters`` (the code cell that ``run_notebook`` overrides) or ``code``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import v4

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def build_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook with a python3 kernelspec, stable cell ids and a tagged parameters cell."""
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        if kind == "markdown":
            nb.cells.append(v4.new_markdown_cell(source))
        elif kind == "parameters":
            nb.cells.append(v4.new_code_cell(source, metadata={"tags": ["parameters"]}))
        else:
            nb.cells.append(v4.new_code_cell(source))
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index:02d}"  # stable ids: regenerating gives no diff
    return nb


def write_notebook(name: str, cells: list[tuple[str, str]]) -> Path:
    """Validate and write ``notebooks/<name>``; return its path."""
    nb = build_notebook(cells)
    nbformat.validate(nb)
    path = NOTEBOOK_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    print(f"wrote {path}")
    return path
