"""The staged notebooks, documents and provenance of a promote (see :mod:`.promote_stage`).

The notebooks that show the model run on the staged one, into staged copies, when asked; the
README and docs tables are rendered from the staged records into staged copies; the
provenance file says which model each derived file came from; and every staged text file
names the project's files, never the staging folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from emotion_classification.training.promote_checks import PromoteError
from emotion_classification.training.promote_stage import Stage, staged_files
from emotion_classification.training.provenance import (
    GROUP_PHOTO_FIGURES,
    MADE,
    NOT_RE_MADE,
    PROVENANCE_ABOUT,
    PROVENANCE_PATH,
    derived_files,
    entry,
    exported_files,
)
from emotion_classification.utils.files import shown_path, write_json, write_text

#: Notebooks that show the shipped model: the group photo's and the interactive one's too.
MODEL_NOTEBOOKS = ("04", "05", "06", "07")
GROUP_PHOTO_NOTEBOOK = "05"
INTERACTIVE_NOTEBOOK = "07"
INJECTED_TAG = "injected-parameters"
STUDY_PHOTO = "data/photos/people.jpg"
TEXT_SUFFIXES = (".json", ".md", ".csv", ".ipynb", ".py")


def study_photo(root: Path) -> Path | None:
    """The study's group photo where the README says it belongs (``data/photos/``)."""
    return root / STUDY_PHOTO if (root / STUDY_PHOTO).is_file() else None


def staged_parameters(stage: Stage, notebook: Path, photo: Path | None) -> dict:
    """Parameters pointing a notebook at the staged model, figures and report (notebook 07's
    still picture keeps its default place, under ``outputs/``)."""
    given = {"MODEL_PATH": str(stage.model), "DATA_DIR": stage.data_dir,
             "IMAGE_PATH": str(photo) if photo else None}
    if not notebook.name.startswith(INTERACTIVE_NOTEBOOK):
        given |= {"FIGURE_DIR": str(stage.figures), "REPORT_PATH": str(stage.report)}
    return given


def without_injected_parameters(path: Path) -> None:
    """Drop the cell papermill added with the staging paths from an executed notebook."""
    import nbformat

    from emotion_classification.evaluation.notebooks import write_pair

    nb = nbformat.read(path, as_version=4)
    nb.cells = [cell for cell in nb.cells
                if INJECTED_TAG not in cell.get("metadata", {}).get("tags", [])]
    write_pair(nb, path)


def stage_notebooks(stage: Stage) -> None:
    """The notebooks that show the model, executed on the staged one into staged copies.

    Notebook 04 evaluates again, with flip only; promote's own evaluation (ten-crop too)
    and record are put back afterwards. Notebook 05 runs only when the study's photo is in
    ``data/photos/``, so the README's figure never shows another picture.
    """
    from emotion_classification.evaluation.notebooks import (
        list_notebooks,
        notebook_parameters,
        run_notebook,
    )

    photo = study_photo(stage.root)
    record = stage.model.with_suffix(".json")
    kept = {path: path.read_bytes() for path in (stage.report, record)}
    for path in list_notebooks(list(MODEL_NOTEBOOKS), stage.root / "notebooks"):
        if path.name.startswith(GROUP_PHOTO_NOTEBOOK) and photo is None:
            stage.notes.append(f"note: {STUDY_PHOTO} not found: {path.name} not re-executed")
            continue
        names, given = notebook_parameters(path), staged_parameters(stage, path, photo)
        staged = stage.path(f"notebooks/{path.name}")
        run_notebook(path, {k: v for k, v in given.items() if k in names}, output_path=staged)
        without_injected_parameters(staged)
        if path.name.startswith(GROUP_PHOTO_NOTEBOOK):
            for name in GROUP_PHOTO_FIGURES:
                stage.statuses[f"reports/figures/{name}"] = MADE
    for path, data in kept.items():
        path.write_bytes(data)


def made_from_this_model(stage: Stage, name: str) -> bool:
    """True when the provenance says ``name`` was already made from the run's model."""
    found = stage.previous.get(name, {})
    return found.get("source_sha256") == stage.model_sha256 and found.get("status") != NOT_RE_MADE


def unmade(stage: Stage) -> list[str]:
    """Derived files no stage made nor any earlier promote of this model, kept as they are
    (their provenance keeps the model they came from)."""
    left = [name for name in derived_files(stage.role) if name not in stage.statuses
            and (stage.root / name).is_file() and not made_from_this_model(stage, name)]
    for name in left:
        stage.statuses[name] = NOT_RE_MADE
    return left


def stage_documents(stage: Stage, staged: dict[str, Path]) -> None:
    """README.md and docs/*.md with their tables rendered from the staged records."""
    from emotion_classification.evaluation import tables

    documents = [stage.root / "README.md", *sorted((stage.root / "docs").glob("*.md"))]
    with tables.records_from(lambda path: staged.get(path, stage.root / path)):
        for document in documents:
            if document.is_file():
                text = document.read_text(encoding="utf-8")
                try:
                    new = tables.render(text)
                except (OSError, KeyError, TypeError, ValueError) as error:
                    raise PromoteError(f"{shown_path(document)}: its tables cannot be rendered "
                                       f"from the new records ({type(error).__name__}: "
                                       f"{error})") from None
                if new != text:
                    write_text(stage.path(document.relative_to(stage.root).as_posix()), new)


def stage_provenance(stage: Stage) -> None:
    """The provenance file: each derived file of this role and the model it came from."""
    files = dict(stage.previous)
    for name, status in stage.statuses.items():
        if status == NOT_RE_MADE:  # its entry keeps the model it was made from
            if name in files:
                files[name] = {**files[name], "status": NOT_RE_MADE}
            continue
        export = stage.folder / name if name in exported_files(stage.role) else None
        files[name] = entry(stage.role, stage.model_sha256, status, export)
    write_json(stage.path(PROVENANCE_PATH), {"about": PROVENANCE_ABOUT,
                                             "files": dict(sorted(files.items()))})


def without_staging_paths(stage: Stage) -> None:
    """Name the project's files relative to it, never by the staging folder or this
    machine's folders, in every staged text file."""
    inside = stage.folder.relative_to(stage.root)  # as the notebooks write it
    prefixes = [f"{stage.folder}{os.sep}", f"{inside}{os.sep}", f"{stage.root}{os.sep}"]
    for path in staged_files(stage).values():
        if path.suffix in TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8")
            if stage.folder.name in text or str(stage.root) in text:
                for prefix in prefixes:
                    text = text.replace(prefix, "")
                write_text(path, text)
