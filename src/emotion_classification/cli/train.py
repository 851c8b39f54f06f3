"""The ``train`` command: train a model into ``runs/<name>/`` (see
:mod:`emotion_classification.training.loop`). Every flag is a field of
:class:`~emotion_classification.training.config.TrainConfig`."""

from __future__ import annotations

import dataclasses
import json
import sys

from emotion_classification.training.checkpoint import Checkpoint, TrainingHooks
from emotion_classification.training.config import (
    DEFAULT_RUNS_DIR,
    ConfigError,
    TrainConfig,
    parse_train_args,
)
from emotion_classification.training.distribution import (
    DistributionError,
)
from emotion_classification.training.loop import TrainingInterrupted, train
from emotion_classification.training.run_records import (
    RunError,
    default_run_name,
    resume_command,
    run_dir_for,
)
from emotion_classification.utils.console import INTERRUPTED_STATUS, cli_path, error_line
from emotion_classification.utils.files import shown_path, temp_target


def typed_paths(config: TrainConfig) -> dict:
    """The model and folder paths the user typed, taken from the current folder and written
    relative to the project when inside it, as the run's config and record name them."""
    from emotion_classification.training.distill import teacher_paths

    def canonical(path: str) -> str:
        return shown_path(cli_path(path))

    changes = {}
    if config.runs_dir != DEFAULT_RUNS_DIR:
        changes["runs_dir"] = canonical(config.runs_dir)
    if config.teacher:
        changes["teacher"] = ",".join(canonical(p) for p in teacher_paths(config.teacher))
    if config.init_weights:
        changes["init_weights"] = canonical(config.init_weights)
    return changes


def os_error_text(error: OSError, config: TrainConfig) -> str:
    """One line naming the file that could not be read or written (never a temporary name);
    for the run folder (a read-only or full --runs-dir), how to go on."""
    path = temp_target(error.filename) if error.filename else run_dir_for(config)
    text = f"{shown_path(path)}: {error.strerror or error}"
    if path.absolute().is_relative_to(run_dir_for(config).parent):
        text += ("; the run folder cannot be written: choose another --runs-dir or free space "
                 "(epochs saved before stay saved)")
    return text


def main(argv: list[str] | None = None, hooks: TrainingHooks | None = None) -> int:
    """Run ``train``: 0 when the run finished, 1 for a bad config, data or run folder, 130
    after Ctrl-C (the finished epochs stay saved). ``hooks`` watch each epoch (tests)."""
    from emotion_classification.data.fer2013 import DatasetError, DatasetNotFoundError
    from emotion_classification.models.files import ModelFileError

    config, args = parse_train_args(argv)
    config = dataclasses.replace(config, **typed_paths(config))
    if not config.name:
        config = dataclasses.replace(config, name=default_run_name())
    try:
        record = train(config, finish_only=args.finish_only, restart=args.restart, hooks=hooks)
    except (ConfigError, DatasetError, DatasetNotFoundError, DistributionError, ModelFileError,
            RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # --runs-dir read-only or full, an unreadable file
        error_line(os_error_text(error, config))
        return 1
    except (TrainingInterrupted, KeyboardInterrupt):
        manifest = Checkpoint(run_dir_for(config) / "checkpoint").manifest()
        done = manifest["progress"]["epochs_done"] if manifest else 0
        saved = f"epochs 1-{done} are saved" if done else "no epoch was finished"
        print(f"interrupted: {saved} in {shown_path(run_dir_for(config))}; resume with: "
              f"{resume_command(config)}", file=sys.stderr)
        return INTERRUPTED_STATUS
    print(json.dumps({k: record[k] for k in ("epochs_run", "wall_time_s", "validation")}))
    print(f"saved {record['model_path']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
