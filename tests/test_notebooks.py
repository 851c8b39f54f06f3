"""Every notebook in notebooks/ runs top to bottom in small-data mode and writes a figure.

Notebooks are found by glob, so a new notebook is tested without touching this file. Its
``parameters`` cell must define ``SMALL`` and ``FIGURE_DIR``. A notebook that mentions
FER2013 requests the ``fer2013_dir`` fixture, and one whose parameters default to
``../shared/...`` photos requests ``shared_dir`` (those paths are pointed at it): each skips
where its data is missing, and fails in CI.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from emotion_classification.notebooks import (
    INJECTED_TAG,
    inject_parameters,
    list_notebooks,
    notebook_dir,
    run_notebook,
)

NOTEBOOKS = list_notebooks()
FIGURE_SUFFIXES = (".png", ".jpg", ".svg", ".pdf")


def needs_fer2013(path) -> bool:
    """Whether any code cell mentions FER2013 (loads, paths, environment variable)."""
    nb = nbformat.read(path, as_version=4)
    return any("fer2013" in cell.source.lower() or "load_for_eda" in cell.source
               for cell in nb.cells if cell.cell_type == "code")


SHARED_DEFAULT = re.compile(r'^(\w+) = "\.\./shared/([^"]+)"', re.MULTILINE)


def shared_defaults(path) -> dict[str, str]:
    """Parameters whose default is a ``../shared/...`` path: name -> path below shared/."""
    nb = nbformat.read(path, as_version=4)
    source = "\n".join(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return dict(SHARED_DEFAULT.findall(source))


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found in {notebook_dir()}"


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_small_mode(path, tmp_path, request):
    if needs_fer2013(path):
        request.getfixturevalue("fer2013_dir")
    parameters = {}
    if shared := shared_defaults(path):  # photos from ../shared: skip, or fail in CI
        shared_dir = request.getfixturevalue("shared_dir")
        parameters = {name: str(shared_dir / rest) for name, rest in shared.items()}
    figure_dir = tmp_path / "figures"
    nb = run_notebook(path, {**parameters, "SMALL": True, "FIGURE_DIR": str(figure_dir)},
                      output_path=tmp_path / path.name)
    executed = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count is not None for c in executed)
    figures = [p for p in figure_dir.rglob("*") if p.suffix in FIGURE_SUFFIXES]
    assert figures, f"{path.name} wrote no figure into FIGURE_DIR ({figure_dir})"


def tiny_notebook(path, *, fail: bool = False):
    """A two-cell notebook: parameters, then a cell that prints them (or fails)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("SMALL = False\nNAME = 'default'",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('broken on purpose')" if fail
                                          else "print(SMALL, NAME)")]
    nbformat.write(nb, path)
    return path


def test_injected_parameters_follow_the_parameters_cell_and_override_defaults():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("title"),
                nbformat.v4.new_code_cell("A = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(A)")]
    inject_parameters(nb, {"A": 2})
    assert INJECTED_TAG in nb.cells[2].metadata["tags"]
    assert "A = 2" in nb.cells[2].source


def test_unknown_parameter_is_refused():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("SMALL = False", metadata={"tags": ["parameters"]})]
    with pytest.raises(RuntimeError, match="SMAL"):
        inject_parameters(nb, {"SMAL": True})


@pytest.mark.notebook
def test_run_notebook_injects_parameters(tmp_path):
    nb = run_notebook(tiny_notebook(tmp_path / "tiny.ipynb"), {"SMALL": True, "NAME": "x"})
    assert nb.cells[-1].outputs[0]["text"].strip() == "True x"


@pytest.mark.notebook
def test_failure_names_the_notebook_and_the_cell(tmp_path):
    path = tiny_notebook(tmp_path / "broken.ipynb", fail=True)
    with pytest.raises(RuntimeError) as error:
        run_notebook(path, {"SMALL": True}, output_path=tmp_path / "out.ipynb")
    message = str(error.value)
    assert "broken.ipynb" in message and "cell 2 of 2" in message
    assert "ValueError: broken on purpose" in message
    assert (tmp_path / "out.ipynb").is_file()  # the executed copy shows the error in context
