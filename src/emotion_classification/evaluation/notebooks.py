"""Run the project's notebooks with papermill, with parameters, and keep each pair in step.

Each ``notebooks/NN_name.ipynb`` is paired with ``notebooks/NN_name.py`` (jupytext
``py:percent``, see ``notebooks/jupytext.toml``): edit either, in Jupyter or in an editor.
A notebook's first code cell is tagged ``parameters``; papermill inserts the values passed
in right after it. The executed notebook, outputs included, is written with its paired
``.py`` where the caller says: the ``notebooks`` command writes copies under
``outputs/notebooks/`` unless it runs them in place. Saved outputs name the project's files
relative to it, never by this machine's folders.

Command line::

    python -m emotion_classification notebooks                 # all of them, full data
    python -m emotion_classification notebooks 03 -p EPOCHS 5  # one, with a parameter
    python -m emotion_classification notebooks --small         # quick check
    python -m emotion_classification notebooks --in-place      # refresh the committed ones
"""

from __future__ import annotations

import ast
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from emotion_classification.utils.files import atomic_output, project_root

#: Where the ``notebooks`` command writes executed copies, and their figures in ``figures/``.
OUTPUT_DIR = "outputs/notebooks"
SMALL_OUTPUT_DIR = f"{OUTPUT_DIR}/small"
FIGURE_FOLDER_NAME = "figures"
KERNEL_NAME = "python3"
PARAMETERS_TAG = "parameters"
PAIRED_FORMATS = "ipynb,py:percent"
#: The ``.ipynb``'s jupytext settings (as in notebooks/jupytext.toml): the ``.py`` holds cells only.
JUPYTEXT_METADATA = {"formats": PAIRED_FORMATS, "notebook_metadata_filter": "-all"}
KERNELSPEC = {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)", "language": "python"}
#: Path settings made absolute before the kernel starts in the notebooks' folder, so
#: ``FER2013_DIR=../shared/data/fer2013`` means the same there as where the command runs.
PATH_ENV_VARS = ("FER2013_DIR", "EMOTION_CACHE_DIR", "EMOTION_SHARED_DIR")
#: Papermill's per-cell bookkeeping, dropped from saved notebooks as noise in diffs.
PAPERMILL_CELL_KEYS = ("papermill", "execution")
#: Cells papermill adds (the injected parameters, its error banners): not the notebook's own.
PAPERMILL_CELL_TAGS = {"injected-parameters", "papermill-error-cell-tag"}
#: What the kernel process prints on stderr that says nothing to a user.
KERNEL_NOISE = re.compile(r"^\[IPKernelApp\] (WARNING \| Kernel is running over TCP"
                          r"|ERROR \| KeyboardInterrupt caught in kernel)")
#: A kernel being shut down after a failed cell can log an exception from one of its ZMQ
#: stream callbacks (its sockets closing under it); the notebook's own error is reported.
KERNEL_SHUTDOWN_TRACEBACK = re.compile(r"^(ERROR:tornado\.general:)?Uncaught exception in "
                                       r"ZMQStream callback")


class NotebookError(RuntimeError):
    """A notebook could not run; the message names the notebook and the failing cell."""


def notebook_dir() -> Path:
    """``<project>/notebooks``: where the notebooks live."""
    return project_root() / "notebooks"


def list_notebooks(names: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The notebooks of ``folder`` in name order, or those matching ``names``.

    A name matches by file name, stem or prefix (``01``, ``01_eda``, ``01_eda.ipynb``); a
    name matching nothing raises :class:`NotebookError`.
    """
    folder = folder or notebook_dir()
    found = sorted(folder.glob("*.ipynb"))
    if not names:
        return found
    chosen: list[Path] = []
    for name in names:
        matches = [p for p in found if p.name == name or p.stem == name
                   or p.name.startswith(name)]
        if not matches:
            raise NotebookError(f"no notebook matches {name!r} in {folder}; there are: "
                                f"{', '.join(p.name for p in found) or 'none'}")
        chosen += [p for p in matches if p not in chosen]
    return chosen


def parse_value(text: str) -> Any:
    """A ``-p`` value as a Python literal (``5``, ``True``, ``None``, ``[1, 2]``), else text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parameters_cell(nb) -> Any | None:
    """The notebook's cell tagged ``parameters``, or None."""
    return next((cell for cell in nb.cells
                 if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])), None)


def defined_names(source: str) -> set[str]:
    """Names assigned at the top level of a parameters cell (``A = 1``, ``B: int = 2``)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def check_parameters(path: Path, parameters: dict[str, Any]) -> None:
    """Refuse names the ``parameters`` cell does not define: a typo such as ``SMAL`` must not
    silently run the full-data version."""
    import nbformat

    cell = parameters_cell(nbformat.read(path, as_version=4))
    if cell is None:
        if parameters:
            raise NotebookError(f"{path.name}: has no cell tagged '{PARAMETERS_TAG}'")
        return
    known = defined_names(cell.source)
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise NotebookError(f"{path.name}: its parameters cell defines no {', '.join(unknown)} "
                            f"(it defines {', '.join(sorted(known))})")


def kernel_env() -> None:
    """Make relative paths in :data:`PATH_ENV_VARS` absolute (the kernel inherits them)."""
    for name in PATH_ENV_VARS:
        if os.environ.get(name) and not os.path.isabs(os.environ[name]):
            os.environ[name] = os.path.abspath(os.environ[name])


def first_line(source: str, limit: int = 60) -> str:
    """The first non-empty line of a cell, shortened, to name it in error messages."""
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[:limit - 3] + "..."


def failure_message(path: Path, nb, error: Exception) -> str:
    """One line: the notebook, the failing cell (numbered as in the source) and the error."""
    cells = [c for c in nb.cells
             if not set(c.get("metadata", {}).get("tags", [])) & PAPERMILL_CELL_TAGS]
    failed = next((i for i, c in enumerate(cells) if c.cell_type == "code" and any(
        o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    where = "before the first cell" if failed is None else (
        f"cell {failed + 1} of {len(cells)} ({first_line(cells[failed].source)!r})")
    reason = f"{getattr(error, 'ename', type(error).__name__)}: " \
             f"{getattr(error, 'evalue', str(error).strip().splitlines()[-1:] or '')}"
    return f"{path.name} failed at {where}: {reason}"


def kernel_stderr_filtered():
    """Pass on what the kernel process writes to stderr, less its start-up and TensorFlow
    noise and its shutdown tracebacks
    (:func:`emotion_classification.utils.quiet.native_stderr_filtered`)."""
    from emotion_classification.utils.quiet import native_stderr_filtered

    return native_stderr_filtered(KERNEL_NOISE, KERNEL_SHUTDOWN_TRACEBACK)


def relative_paths(text: str, root: Path) -> str:
    """``text`` with the project's absolute paths written relative to it."""
    return text.replace(f"{root}{os.sep}", "").replace(str(root), ".")


def without_project_paths(nb, root: Path | None = None):
    """Every text output of ``nb`` and its saved widget state naming the project's files
    relative to it, so a saved notebook holds no absolute path of the machine it ran on."""
    root = (root or project_root()).resolve()
    if nb.metadata.get("widgets"):
        nb.metadata["widgets"] = json.loads(relative_paths(json.dumps(nb.metadata["widgets"]),
                                                           root))
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if isinstance(output.get("text"), str):
                output["text"] = relative_paths(output["text"], root)
            for kind, value in output.get("data", {}).items():
                if kind.startswith("text/") and isinstance(value, str):
                    output["data"][kind] = relative_paths(value, root)
    return nb


def clean(nb):
    """Drop papermill's timing and status metadata so a rerun changes only real outputs,
    and write the project's paths in the outputs relative to it."""
    without_project_paths(nb)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        for key in PAPERMILL_CELL_KEYS:
            cell.metadata.pop(key, None)
        if not cell.metadata.get("tags", True):  # papermill adds an empty list to every cell
            del cell.metadata["tags"]
    nb.metadata["jupytext"] = dict(JUPYTEXT_METADATA)
    return nb


def write_pair(nb, output_path: Path) -> None:
    """Write the notebook and its paired ``py:percent`` file beside it, atomically."""
    import jupytext
    import nbformat

    with atomic_output(output_path) as tmp:
        nbformat.write(nb, tmp)
    with atomic_output(output_path.with_suffix(".py")) as tmp:
        jupytext.write(nb, tmp, fmt="py:percent")


def run_notebook(path: str | os.PathLike, parameters: dict[str, Any] | None = None, *,
                 output_path: str | os.PathLike | None = None, cwd: str | os.PathLike | None = None):
    """Execute a notebook top to bottom with papermill, ``parameters`` injected; return it.

    The kernel starts in ``cwd`` (default: the notebook's folder, as in Jupyter). The executed
    notebook, outputs included, is written with its paired ``.py`` to ``output_path`` when
    given, not when a cell fails. A failure raises :class:`NotebookError` with one line
    naming the notebook, the cell and the error.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: notebook not found")
    parameters = dict(parameters or {})
    check_parameters(path, parameters)
    kernel_env()
    with tempfile.TemporaryDirectory(prefix="notebook-") as scratch:
        executed = Path(scratch) / path.name
        try:
            with kernel_stderr_filtered():
                papermill.execute_notebook(str(path), str(executed), parameters=parameters,
                                           cwd=str(cwd or path.parent), kernel_name=KERNEL_NAME,
                                           progress_bar=False, log_output=False)
        except PapermillExecutionError as error:
            nb = nbformat.read(executed, as_version=4)
            raise NotebookError(failure_message(path, nb, error)) from error
        except Exception as error:  # the kernel died, or would not start
            raise NotebookError(f"{path.name} failed: {type(error).__name__}: "
                                f"{str(error).strip().splitlines()[-1:] or ''}") from error
        nb = clean(nbformat.read(executed, as_version=4))
    if output_path is not None:
        write_pair(nb, Path(output_path))
    return nb


def notebook_parameters(path: Path) -> set[str]:
    """Names the notebook's ``parameters`` cell defines."""
    import nbformat

    cell = parameters_cell(nbformat.read(path, as_version=4))
    return defined_names(cell.source) if cell is not None else set()
