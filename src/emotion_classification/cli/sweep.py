"""The ``sweep`` command: a hyperparameter sweep on Ray Tune from a YAML sweep file (see
:mod:`emotion_classification.training.sweep`); each trial is a ``train`` run in
``runs/<sweep>/<trial>/``."""

from __future__ import annotations

import argparse
import shlex
import sys

from emotion_classification.training.checkpoint import TrainingHooks
from emotion_classification.utils.console import (
    INTERRUPTED_STATUS,
    cli_path,
    error_line,
    stdout_may_close,
)
from emotion_classification.utils.files import project_path, shown_path


def share(text: str) -> float:
    """A per-trial share of CPUs or GPUs: a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification sweep",
        description="Run a hyperparameter sweep on Ray Tune (pip install '.[ray]'): every "
                    "trial is a `train` run in RUNS_DIR/SWEEP/TRIAL/ with its own TensorBoard "
                    "logs, an ASHA scheduler stops trials that trail, and the trials are "
                    "ranked by validation accuracy (never the test folder). A sweep that was "
                    "killed resumes where it stopped when the same command is given again. "
                    "Examples of sweep files are in sweeps/.")
    parser.add_argument("spec", metavar="SPEC.yaml",
                        help="The sweep file: fixed train flags, the search space, named "
                             "trials and Tune settings (docs/training.md, 'Sweeps').")
    parser.add_argument("--name", default=None,
                        help="The sweep's folder inside --runs-dir (default: the sweep file's "
                             "name: entry, else its file name without .yaml).")
    parser.add_argument("--runs-dir", default=None,
                        help="Folder holding the sweep's folder (default: runs/ in the "
                             "project).")
    parser.add_argument("--data-dir", default=None,
                        help="FER2013 folder (default: $FER2013_DIR or data/fer2013).")
    parser.add_argument("--address", default=None, metavar="ADDR",
                        help="The Ray cluster to join (auto, HOST:PORT or ray://HOST:PORT); "
                             "default: $RAY_ADDRESS, else a local Ray instance started for "
                             "this sweep. Every node must see the data and --runs-dir at the "
                             "same paths.")
    parser.add_argument("--cpus-per-trial", type=share, default=None, metavar="C",
                        help="CPUs each trial reserves (default: the sweep file's "
                             "resources_per_trial cpu, else 1).")
    parser.add_argument("--gpus-per-trial", type=share, default=None, metavar="G",
                        help="GPUs each trial reserves; a fraction lets trials share one GPU "
                             "(0.25: four trials per GPU) (default: the sweep file's "
                             "resources_per_trial gpu, else 0).")
    return parser


def resume_command(argv: list[str]) -> str:
    """The command that continues this sweep: the same one."""
    return " ".join(["python -m emotion_classification sweep", *map(shlex.quote, argv)])


def print_table(result, sweep_dir) -> None:
    """The table of trials, then where it is and which trial is best."""
    import pandas as pd

    with stdout_may_close():
        print(pd.DataFrame(result.rows).to_string(index=False))
    print(f"table of trials: {shown_path(result.csv_path)}; all runs in TensorBoard: "
          f"tensorboard --logdir {shown_path(sweep_dir)}", file=sys.stderr)
    if result.best:
        row = next(r for r in result.rows if r["trial"] == result.best)
        print(f"best trial: {result.best}, validation accuracy "
              f"{row['validation_accuracy']:.4f} ({row['status']}): {row['run']}",
              file=sys.stderr)


def main(argv: list[str] | None = None, hooks: TrainingHooks | None = None) -> int:
    """``sweep SPEC.yaml``: 0 when every trial ended, 1 for a bad sweep file or data, 2
    without Ray Tune, 130 after Ctrl-C (resume with the same command). ``hooks`` reach every
    trial's training (tests)."""
    from emotion_classification.data.fer2013 import DatasetNotFoundError, find_dataset_dir
    from emotion_classification.training.sweep import ray_tune_missing, run_sweep
    from emotion_classification.training.sweep_spec import SweepError, read_spec

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    missing = ray_tune_missing()
    if missing:
        error_line(missing)
        return 2
    try:
        spec = read_spec(cli_path(args.spec), args.name)
        data_dir = find_dataset_dir(cli_path(args.data_dir) if args.data_dir else None,
                                    splits=("train",))
    except (SweepError, DatasetNotFoundError) as error:
        error_line(str(error))
        return 1
    runs_dir = cli_path(args.runs_dir) if args.runs_dir else project_path("runs")
    sweep_dir = runs_dir / spec.name
    resources = {"cpu": spec.resources_per_trial["cpu"] if args.cpus_per_trial is None
                 else args.cpus_per_trial,
                 "gpu": spec.resources_per_trial["gpu"] if args.gpus_per_trial is None
                 else args.gpus_per_trial}
    try:
        result = run_sweep(spec, sweep_dir, address=args.address, resources=resources,
                           data_dir=str(data_dir), hooks=hooks)
    except SweepError as error:
        error_line(str(error))
        return 1
    except KeyboardInterrupt:
        error_line(f"interrupted; resume with: {resume_command(argv)}")
        return INTERRUPTED_STATUS
    print_table(result, sweep_dir)
    if not result.complete:
        error_line(f"interrupted: some trials did not finish; resume with: "
                   f"{resume_command(argv)}")
        return INTERRUPTED_STATUS
    return 0


if __name__ == "__main__":
    sys.exit(main())
