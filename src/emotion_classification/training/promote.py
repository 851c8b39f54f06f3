"""Make a finished training run the shipped model: the one deliberate step that replaces
``models/emotion_cnn.*`` and every file made from it.

``python -m emotion_classification promote runs/<name>`` holds a lock on ``models/`` (a
second promote is refused), checks the run (:mod:`.promote_checks`: its record against its
files, its validation accuracy against the shipped model's, unless forced), builds every file
it replaces in a staging folder (:mod:`.promote_stage` for the model's files,
:mod:`.promote_documents` for notebooks, README and docs tables and the provenance), says
what it is about to replace, old -> new, and only then renames the staged files into place,
all at the end and together: an error or Ctrl-C before that leaves every committed file as
it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from emotion_classification.training.promote_checks import (
    CheckedRun,
    PromoteError,
    RefusedError,
    checked_run,
    gate,
)
from emotion_classification.training.promote_documents import (
    stage_documents,
    stage_notebooks,
    stage_provenance,
    unmade,
    without_staging_paths,
)
from emotion_classification.training.promote_stage import (
    Stage,
    stage_benchmarks,
    stage_evaluation,
    stage_export_report,
    stage_exports,
    stage_grad_cam,
    stage_model,
    stage_video,
    staged_files,
)
from emotion_classification.training.provenance import (
    PROVENANCE_PATH,
    ROLES,
    model_path,
    read_provenance,
    sha256,
)
from emotion_classification.training.run_records import MODEL_FILE
from emotion_classification.utils.console import interrupts_held
from emotion_classification.utils.files import project_path, project_root, shown_path

STAGING_PREFIX = ".promote-"
BACKUP_FOLDER = ".replaced"


def ignore(_) -> None:
    """The default hook: nothing happens."""


@dataclass(frozen=True)
class PromoteHooks:
    """Callables promote runs at fixed points, for the command line and the tests.

    ``stage(name)`` runs before each stage is built; ``before_place(result)`` once everything
    is built, before anything is replaced (the command prints old -> new there).
    """

    stage: Callable[[str], None] = ignore
    before_place: Callable[[dict], None] = ignore


@contextlib.contextmanager
def promote_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder`` (``models/``) for this process: a second promote is refused."""
    import fcntl

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RefusedError(f"{shown_path(folder)}: another promote is running; wait for "
                               "it to end") from None
        yield
    finally:
        os.close(descriptor)


def read_record(path: Path) -> dict | None:
    """A JSON record, or None when it is missing or unreadable."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def summary(record: dict | None, validation_accuracy: float | None, model: Path) -> dict:
    """Validation accuracy, test accuracy (when evaluated) and sha256 of a model."""
    test = ((record or {}).get("test_metrics") or {}).get("test") or {}
    return {"validation_accuracy": validation_accuracy, "test_accuracy": test.get("accuracy"),
            "sha256": sha256(model) if model.is_file() else None}


def shipped_validation(record: dict | None) -> float | None:
    return ((record or {}).get("validation") or {}).get("accuracy")


def place(staged: dict[str, Path], root: Path, backup: Path) -> None:
    """Rename every staged file onto its target, Ctrl-C held meanwhile; on an error the
    targets replaced so far get their old files back."""
    done: list[tuple[Path, Path | None]] = []
    with interrupts_held():
        try:
            for relative, source in staged.items():
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                kept = None
                if target.exists():
                    kept = backup / relative
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(target, kept)
                done.append((target, kept))
                os.replace(source, target)
        except OSError:
            for target, kept in reversed(done):
                if kept is not None and kept.exists():
                    os.replace(kept, target)
                elif kept is None:
                    target.unlink(missing_ok=True)
            raise


def user_paths(message: str, stage: Stage) -> str:
    """An error message naming the run's model instead of its staged copy."""
    message = message.replace(str(stage.model), shown_path(stage.run.folder / MODEL_FILE))
    return message.replace(f"{stage.folder}{os.sep}", "").replace(str(stage.folder), ".")


def staged_result(stage: Stage, run: CheckedRun, old: dict, notes: list[str],
                  staged: dict[str, Path]) -> dict:
    """What promote is about to do: old and new summaries, the files, the notes."""
    new = summary(read_record(stage.model.with_suffix(".json")), run.validation_accuracy,
                  stage.model)
    return {"run_dir": shown_path(run.folder), "shipped": model_path(stage.role), "old": old,
            "new": new, "replaced": list(staged), "notes": notes + stage.notes}


def build(stage: Stage, notebooks: bool, enter: Callable[[str], None]) -> dict[str, Path]:
    """Run every stage in order (``enter(name)`` before each); return the staged files
    (``{path in the project: staged file}``)."""
    from emotion_classification.data.fer2013 import load_fer2013, small_subset

    enter("model")
    stage_model(stage)
    enter("evaluation")
    stage_evaluation(stage)
    enter("exports")
    stage_exports(stage)
    if stage.role == "accurate":
        test = load_fer2013(stage.data_dir, splits=("test",))["test"]
        test = small_subset(test, stage.small_per_class) if stage.small_per_class else test
        enter("export check")
        stage_export_report(stage, test)
        enter("figures")
        stage_grad_cam(stage, test)
    if not stage.same_model:  # the benchmarks measured the model shipped now
        enter("benchmarks")
        stage_benchmarks(stage)
    enter("video")
    stage_video(stage)
    if notebooks and stage.role == "accurate":
        enter("notebooks")
        stage_notebooks(stage)
    left = unmade(stage)
    if left:
        stage.notes.append(f"note: not re-made from the new model (the provenance test names "
                           f"them until they are): {', '.join(left)}")
    without_staging_paths(stage)
    enter("documents")
    stage_documents(stage, staged_files(stage))
    enter("provenance")
    stage_provenance(stage)
    without_staging_paths(stage)
    return staged_files(stage)


def build_staged(stage: Stage, notebooks: bool, hooks: PromoteHooks) -> dict[str, Path]:
    """:func:`build`, its errors naming the user's files, never the staged copies."""
    from emotion_classification.evaluation.notebooks import NotebookError
    from emotion_classification.models.export import ExportError
    from emotion_classification.models.files import ModelFileError

    try:
        return build(stage, notebooks, hooks.stage)
    except (ExportError, ModelFileError, NotebookError) as error:
        raise PromoteError(user_paths(str(error), stage)) from None


def promote(run_dir: str | os.PathLike, *, root: str | os.PathLike | None = None,
            role: str = "accurate", data_dir: str | None = None, notebooks: bool = False,
            force: bool = False, small_per_class: int = 0, allow_small_data: bool = False,
            hooks: PromoteHooks | None = None) -> dict:
    """Make the finished run in ``run_dir`` the shipped model of ``role``; return what was
    replaced, old -> new.

    ``root`` is the project whose ``models/``, ``reports/``, README and docs are replaced
    (tests point it at a copy). A run whose validation accuracy is below the shipped model's
    is refused unless ``force``. ``notebooks`` re-executes the notebooks that show the model,
    on the new one, into the committed notebooks. ``small_per_class`` evaluates on a subset
    and ``allow_small_data`` accepts a small-data run (tests only). ``role="fast"`` ships the
    run as the fast model beside the accurate one.
    """
    if role not in ROLES:
        raise PromoteError(f"--as {role!r}: choose one of {', '.join(ROLES)}")
    root, run_dir = Path(root or project_root()), project_path(run_dir)
    hooks = hooks or PromoteHooks()
    models = root / "models"
    models.mkdir(parents=True, exist_ok=True)
    with promote_lock(models):
        for left in models.glob(f"{STAGING_PREFIX}*"):  # of a promote that was killed
            shutil.rmtree(left, ignore_errors=True)
        hooks.stage("checks")
        run = checked_run(run_dir, data_dir, allow_small_data)
        shipped = root / model_path(role)
        shipped_record = read_record(shipped.with_suffix(".json"))
        forced = gate(run, shipped_validation(shipped_record), shipped, force)
        notes = [forced] if forced else []
        old = summary(shipped_record, shipped_validation(shipped_record), shipped)
        folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=models))
        try:
            new_sha256 = sha256(run.folder / MODEL_FILE)
            stage = Stage(root, folder, role, run, data_dir, small_per_class, new_sha256,
                          same_model=new_sha256 == old["sha256"],
                          previous=read_provenance(root / PROVENANCE_PATH)["files"])
            staged = build_staged(stage, notebooks, hooks)
            result = staged_result(stage, run, old, notes, staged)
            hooks.before_place(result)
            place(staged, root, folder / BACKUP_FOLDER)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return result
