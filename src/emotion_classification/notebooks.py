"""Run the project's notebooks headless, with parameters, the way papermill does.

A notebook's first code cell is tagged ``parameters`` and holds every default
(``SMALL = False``, ``FIGURE_DIR = "reports/figures"`` or ``None`` where the notebook
picks the folder itself, ...). :func:`run_notebook` inserts a
cell tagged ``injected-parameters`` right after it, so the values passed in override the
defaults, then executes every cell top to bottom with nbclient.

The kernel is always the Python running this code (``sys.executable``), never whatever
``python3`` kernelspec happens to be registered on the machine, so a fresh virtual
environment works without ``ipykernel install``.

Command line (regenerates the README figures from the full data)::

    python -m emotion_classification notebooks            # every notebook, full data
    python -m emotion_classification notebooks 01_eda     # only some, by name or prefix
    python -m emotion_classification notebooks --small    # quick check, figures to a temp dir
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from emotion_classification.data import project_root

#: Longest a single cell may run before the notebook is declared failed.
CELL_TIMEOUT_S = 1800
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
KERNEL_NAME = "python3"
#: Path settings resolved against the caller's folder before the kernel starts in the
#: notebook's folder, so ``FER2013_DIR=../shared/data/fer2013`` means the same in both.
PATH_ENV_VARS = ("FER2013_DIR", "EMOTION_CACHE_DIR", "EMOTION_SHARED_DIR")


class NotebookError(RuntimeError):
    """A notebook could not run; the message names the notebook and the failing cell."""


def notebook_dir() -> Path:
    """``<project>/notebooks``: where the notebooks live."""
    return project_root() / "notebooks"


def list_notebooks(names: list[str] | None = None) -> list[Path]:
    """The notebooks in ``notebooks/`` in name order, or those matching ``names``.

    A name matches a notebook by file name, stem or prefix (``01``, ``01_eda``,
    ``01_eda.ipynb``); a name matching nothing raises :class:`NotebookError`.
    """
    found = sorted(notebook_dir().glob("*.ipynb"))
    if not names:
        return found
    chosen: list[Path] = []
    for name in names:
        matches = [p for p in found if p.name == name or p.stem == name
                   or p.name.startswith(name)]
        if not matches:
            raise NotebookError(f"no notebook matches {name!r} in {notebook_dir()}; "
                                f"there are: {', '.join(p.name for p in found) or 'none'}")
        chosen += [p for p in matches if p not in chosen]
    return chosen


def defined_names(source: str) -> set[str]:
    """Names assigned at the top level of a parameters cell (``A = 1``, ``B: int = 2``)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            elements = target.elts if isinstance(target, ast.Tuple) else [target]
            names |= {t.id for t in elements if isinstance(t, ast.Name)}
    return names


def parameters_source(parameters: dict[str, Any]) -> str:
    """Python assignments for the injected cell; values must survive ``repr`` round trips."""
    lines = ["# Parameters injected by emotion_classification.notebooks.run_notebook"]
    for name, value in parameters.items():
        if not name.isidentifier():
            raise ValueError(f"parameter name {name!r} is not a Python identifier")
        text = repr(value)
        try:
            ok = ast.literal_eval(text) == value
        except (ValueError, SyntaxError):
            ok = False
        if not ok:
            raise ValueError(f"parameter {name}={text} is not a plain literal (str, number, "
                             "bool, None, list, dict); pass paths as str")
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def inject_parameters(nb, parameters: dict[str, Any], label: str = "notebook"):
    """Insert the parameter cell after the ``parameters`` cell (at the top if there is none).

    A name the ``parameters`` cell does not define is an error, so a typo such as
    ``SMAL=True`` cannot silently run the full-data version.
    """
    import nbformat

    if not parameters:
        return nb
    tagged = [i for i, cell in enumerate(nb.cells)
              if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])]
    if tagged:
        known = defined_names(nb.cells[tagged[0]].source)
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise NotebookError(f"{label}: its '{PARAMETERS_TAG}' cell defines no "
                                f"{', '.join(unknown)} (it defines {', '.join(sorted(known))})")
    cell = nbformat.v4.new_code_cell(parameters_source(parameters),
                                     metadata={"tags": [INJECTED_TAG]})
    nb.cells.insert(tagged[0] + 1 if tagged else 0, cell)
    return nb


def current_python_kernel_manager_class():
    """An nbclient kernel manager whose ``python3`` kernel is this interpreter.

    jupyter_client would otherwise pick the first ``python3`` kernelspec on its search path,
    which may be a user-level spec pointing at another Python without this package.
    """
    from ipykernel.kernelspec import get_kernel_dict
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from traitlets import default

    class CurrentPythonKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            if kernel_name != KERNEL_NAME:
                return super().get_kernel_spec(kernel_name)
            spec = get_kernel_dict()  # argv starts with sys.executable
            return KernelSpec(argv=spec["argv"], display_name=spec["display_name"],
                              language=spec["language"], metadata=spec.get("metadata", {}))

    class CurrentPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self):
            return CurrentPythonKernelSpecManager(data_dir=self.data_dir)

    return CurrentPythonKernelManager


def kernel_env() -> dict[str, str]:
    """This process's environment, relative paths in :data:`PATH_ENV_VARS` made absolute."""
    env = dict(os.environ)
    for name in PATH_ENV_VARS:
        if env.get(name) and not os.path.isabs(env[name]):
            env[name] = os.path.abspath(env[name])
    return env


def first_line(source: str, limit: int = 60) -> str:
    """The first non-empty line of a cell, shortened, to name it in error messages."""
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[:limit - 3] + "..."


def describe_cell(nb, index: int) -> str:
    """``cell 3 of 12`` counted from 1 as in the notebook file, or ``the injected parameters``."""
    tags = [cell.get("metadata", {}).get("tags", []) for cell in nb.cells]
    injected = [i for i, cell_tags in enumerate(tags) if INJECTED_TAG in cell_tags]
    if index in injected:
        return "the injected parameters cell"
    number = index + 1 - sum(i < index for i in injected)
    return f"cell {number} of {len(nb.cells) - len(injected)}"


def run_notebook(path: str | os.PathLike, parameters: dict[str, Any] | None = None, *,
                 timeout_s: int = CELL_TIMEOUT_S, cwd: str | os.PathLike | None = None,
                 output_path: str | os.PathLike | None = None):
    """Execute a notebook top to bottom with ``parameters`` injected; return the result.

    ``cwd`` defaults to the notebook's folder (as in Jupyter). ``timeout_s`` applies to each
    cell. The executed notebook, outputs included, is written to ``output_path`` when given,
    also when a cell fails, so the error can be read in context. A failure raises
    :class:`NotebookError` naming the notebook, the cell and the error.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"notebook not found: {path}")
    nb = inject_parameters(nbformat.read(path, as_version=4), dict(parameters or {}), path.name)
    current: dict[str, Any] = {}

    def remember_cell(cell, cell_index: int, **_: Any) -> None:
        current.update(cell=cell, index=cell_index)

    client = NotebookClient(nb, timeout=timeout_s, kernel_name=KERNEL_NAME,
                            kernel_manager_class=current_python_kernel_manager_class(),
                            resources={"metadata": {"path": str(cwd or path.parent)}},
                            on_cell_start=remember_cell)
    try:
        client.execute(env=kernel_env())
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        where = "before the first cell"
        if current:
            cell = current["cell"]
            where = f"{describe_cell(nb, current['index'])} ({first_line(cell.source)!r})"
        if isinstance(error, CellExecutionError):
            reason = f"{error.ename}: {error.evalue}"
        elif isinstance(error, CellTimeoutError):
            reason = f"timed out after {timeout_s} s"
        else:
            reason = f"the kernel died ({error})"
        raise NotebookError(f"notebook {path.name} failed at {where}: {reason}") from error
    finally:
        if output_path is not None:
            Path(output_path).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, output_path)
    return nb


def main(argv: list[str] | None = None) -> int:
    """``python -m emotion_classification notebooks [--small] [NAMES...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification notebooks",
        description="Run the notebooks in notebooks/ in order. Full mode (the default) uses "
                    "all of FER2013 and rewrites the README figures in reports/figures/.")
    parser.add_argument("names", nargs="*", help="notebooks to run, by name or prefix "
                        "(default: all)")
    parser.add_argument("--small", action="store_true", help="small-data mode: a few images "
                        "per class, figures to a temporary folder (a quick check)")
    parser.add_argument("--figure-dir", help="where figures go (default: reports/figures, "
                        "or a temporary folder with --small)")
    parser.add_argument("--output-dir", default="runs/notebooks", help="where the executed "
                        "copies with outputs are written (default: runs/notebooks)")
    parser.add_argument("--timeout-s", type=int, default=CELL_TIMEOUT_S,
                        help=f"limit per cell in seconds (default {CELL_TIMEOUT_S})")
    args = parser.parse_args(argv)
    try:
        paths = list_notebooks(args.names)
    except NotebookError as error:
        print(f"notebooks: {error}", file=sys.stderr)
        return 2
    if not paths:
        print(f"notebooks: no notebooks in {notebook_dir()}", file=sys.stderr)
        return 2
    parameters: dict[str, Any] = {}
    if args.figure_dir:  # relative to where the command runs, as users expect
        parameters["FIGURE_DIR"] = str(Path(args.figure_dir).resolve())
    if args.small:  # never overwrite the README figures with small-data ones
        parameters["SMALL"] = True
        parameters.setdefault("FIGURE_DIR", tempfile.mkdtemp(prefix="figures-small-"))
    output_dir = project_root() / args.output_dir
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        try:
            run_notebook(path, parameters, timeout_s=args.timeout_s,
                         output_path=output_dir / path.name)
        except NotebookError as error:
            print(f"notebooks: {error}", file=sys.stderr)
            print(f"the executed copy, with the error in context, is {output_dir / path.name}",
                  file=sys.stderr)
            return 1
    where = parameters.get("FIGURE_DIR", "reports/figures")
    print(f"ran {len(paths)} notebook(s); figures in {where}; executed copies in {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
