"""The notebooks: each ``.ipynb`` agrees with its paired ``.py``, has a ``parameters`` cell,
and runs top to bottom in small-data mode, writing a figure; the ``notebooks`` command
passes parameters and reports a failing notebook in one line.

Notebooks are found by glob, so a new one is tested without touching this file. A notebook
that mentions FER2013 requests the ``fer2013_dir`` fixture (a skip on a user's machine
without the data, a failure in CI).
"""

from __future__ import annotations

import jupytext
import nbformat
import pytest

from emotion_classification.cli import notebooks as notebooks_cli
from emotion_classification.evaluation import notebooks
from emotion_classification.evaluation.notebooks import (
    PARAMETERS_TAG,
    NotebookError,
    list_notebooks,
    notebook_dir,
    run_notebook,
)

NOTEBOOKS = list_notebooks()
FIGURE_SUFFIXES = (".png", ".jpg", ".svg", ".pdf")


def cells_of(path) -> list[tuple[str, str]]:
    """(type, source) of every cell, as jupytext reads the file."""
    return [(cell.cell_type, cell.source.strip()) for cell in jupytext.read(path).cells]


def needs_fer2013(path) -> bool:
    """Whether any code cell reads FER2013 (a data folder, the loaders)."""
    nb = nbformat.read(path, as_version=4)
    return any(word in cell.source for cell in nb.cells if cell.cell_type == "code"
               for word in ("DATA_DIR", "load_fer2013", "load_for_eda"))


def test_every_notebook_has_its_pair():
    assert NOTEBOOKS, f"no notebooks found in {notebook_dir()}"
    pys = sorted(p.stem for p in notebook_dir().glob("*.py"))
    assert pys == sorted(p.stem for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_in_sync_with_its_py(path):
    assert cells_of(path) == cells_of(path.with_suffix(".py")), (
        f"{path.name} and {path.with_suffix('.py').name} differ: run "
        f"`jupytext --sync {path}` (or rerun the notebook)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_first_code_cell_is_tagged_parameters(path):
    nb = nbformat.read(path, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert PARAMETERS_TAG in first.metadata.get("tags", [])
    assert {"SMALL", "FIGURE_DIR"} <= notebooks.defined_names(first.source)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_small_mode(path, tmp_path, request):
    if needs_fer2013(path):
        request.getfixturevalue("fer2013_dir")
    figure_dir = tmp_path / "figures"
    nb = run_notebook(path, {"SMALL": True, "FIGURE_DIR": str(figure_dir)},
                      output_path=tmp_path / path.name)
    executed = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count is not None for c in executed)
    assert "papermill" not in nb.metadata
    figures = [p for p in figure_dir.rglob("*") if p.suffix in FIGURE_SUFFIXES]
    assert figures, f"{path.name} wrote no figure into FIGURE_DIR ({figure_dir})"
    assert cells_of(tmp_path / path.name) == cells_of(tmp_path / path.with_suffix(".py").name)


def tiny_notebook(folder, name: str = "01_tiny", *, fail: bool = False):
    """A two-cell notebook: parameters, then a cell that prints them (or fails)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(notebooks.KERNELSPEC)
    nb.cells = [nbformat.v4.new_code_cell("SMALL = False\nEPOCHS = 1\nNAME = 'default'",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('broken on purpose')" if fail
                                          else "print(SMALL, EPOCHS, NAME)")]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def printed(nb) -> str:
    return "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()


@pytest.mark.notebook
def test_cli_passes_parameters_as_python_literals(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    tiny_notebook(folder)
    monkeypatch.setattr(notebooks, "notebook_dir", lambda: folder)
    monkeypatch.setattr(notebooks_cli, "notebook_dir", lambda: folder)
    out = tmp_path / "out"
    assert notebooks_cli.main(["01", "-p", "EPOCHS", "5", "-p", "NAME", "x", "-p", "SMALL", "True",
                           "--output-dir", str(out)]) == 0
    nb = nbformat.read(out / "01_tiny.ipynb", as_version=4)
    assert printed(nb) == "True 5 x"
    assert (out / "01_tiny.py").is_file()


def test_unknown_parameter_is_refused(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    tiny_notebook(folder)
    monkeypatch.setattr(notebooks, "notebook_dir", lambda: folder)
    monkeypatch.setattr(notebooks_cli, "notebook_dir", lambda: folder)
    assert notebooks_cli.main(["-p", "EPOCS", "5"]) == 2
    assert "EPOCS" in capsys.readouterr().err
    with pytest.raises(NotebookError, match="EPOCS"):
        run_notebook(folder / "01_tiny.ipynb", {"EPOCS": 5})


@pytest.mark.slow
@pytest.mark.notebook
def test_a_failing_notebook_gives_one_line_and_the_others_still_run(tmp_path, monkeypatch,
                                                                    capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    tiny_notebook(folder, "01_broken", fail=True)
    tiny_notebook(folder, "02_fine")
    monkeypatch.setattr(notebooks, "notebook_dir", lambda: folder)
    monkeypatch.setattr(notebooks_cli, "notebook_dir", lambda: folder)
    out = tmp_path / "out"
    assert notebooks_cli.main(["--output-dir", str(out)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert errors == ["error: 01_broken.ipynb failed at cell 2 of 2 "
                      '("raise ValueError(\'broken on purpose\')"): '
                      "ValueError: broken on purpose"]
    assert (out / "02_fine.ipynb").is_file() and not (out / "01_broken.ipynb").exists()


def figure_notebook(folder, committed_figures):
    """A notebook that writes a figure into FIGURE_DIR and prints a project path."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(notebooks.KERNELSPEC)
    nb.cells = [nbformat.v4.new_code_cell(f"SMALL = False\nFIGURE_DIR = {str(committed_figures)!r}",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "from emotion_classification.utils.files import project_path, project_root\n"
                    "figures = project_path(FIGURE_DIR)\n"
                    "figures.mkdir(parents=True, exist_ok=True)\n"
                    "(figures / 'figure.png').write_bytes(b'png')\n"
                    "print(project_root() / 'reports' / 'figure.png')")]
    path = folder / "01_figure.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.notebook
def test_cli_writes_copies_and_figures_under_outputs_and_in_place_only_when_asked(
        tmp_path, monkeypatch, capsys):
    """By default the executed copy and its figures go to the output folder and the
    committed notebook and figures stay as they are; --in-place replaces the notebook and
    lets it write its figures where it says; saved outputs hold no absolute project path."""
    folder, committed = tmp_path / "notebooks", tmp_path / "reports" / "figures"
    folder.mkdir()
    path = figure_notebook(folder, committed)
    original = path.read_bytes()
    monkeypatch.setattr(notebooks, "notebook_dir", lambda: folder)
    monkeypatch.setattr(notebooks_cli, "notebook_dir", lambda: folder)
    monkeypatch.setattr(notebooks_cli, "OUTPUT_DIR", str(tmp_path / "outputs" / "notebooks"))
    assert notebooks_cli.main(["01"]) == 0
    out = tmp_path / "outputs" / "notebooks"
    assert (out / "figures" / "figure.png").is_file() and (out / "01_figure.py").is_file()
    assert path.read_bytes() == original and not committed.exists()
    assert printed(nbformat.read(out / "01_figure.ipynb", as_version=4)) == "reports/figure.png"
    with pytest.raises(SystemExit) as refused:
        notebooks_cli.main(["01", "--in-place", "--small"])
    assert refused.value.code == 2
    assert notebooks_cli.main(["01", "--in-place"]) == 0
    assert path.read_bytes() != original and (committed / "figure.png").is_file()
    assert printed(nbformat.read(path, as_version=4)) == "reports/figure.png"
    capsys.readouterr()
