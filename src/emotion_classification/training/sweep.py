"""Hyperparameter sweeps on Ray Tune: every trial is one ``train`` run in its own folder.

A sweep file (YAML, see ``sweeps/``) holds

* ``fixed``: ``train`` flags every trial shares (``epochs: 6``, ``preset: quick``);
* ``search``: flags drawn per trial, one distribution each (``{loguniform: [1e-4, 1e-2]}``,
  ``uniform``, ``randint``, ``choice``, or ``grid`` to try every value);
* ``trials``: named trials with their own flags (YAML anchors and ``<<`` merges share flag
  groups); ``role: reference`` or ``spread`` marks one that is compared, never chosen;
* ``samples`` (draws of the search space), ``search_algorithm`` (``random`` or ``optuna``:
  Optuna's TPE sampler through Tune), ``scheduler`` (``asha`` with ``grace_period`` and
  ``reduction_factor`` in epochs, or ``none``), ``resources_per_trial`` (``cpu``, ``gpu``;
  a fraction of a GPU lets trials share one) and ``max_concurrent_trials``.

Flag names and values are those of ``python -m emotion_classification train`` and are
parsed by its own parser, so a sweep file can say anything a ``train`` command can.

Each trial calls :func:`~emotion_classification.training.loop.train` with the run folder
``runs/<sweep>/<trial>/`` (model, record, checkpoint, TensorBoard logs) and reports each
epoch's validation accuracy to Tune from the training hooks, after the epoch's checkpoint is
committed; the ASHA scheduler stops the trials that trail at each rung. Tune's own state is
kept in ``runs/<sweep>/tune/``: a sweep that was killed resumes through Tune's experiment
restore when started again, and each unfinished trial resumes from its run's checkpoint.
The metric is the validation accuracy (a split of the train folder): the test folder is
never read. The result is ``runs/<sweep>/trials.csv``, one row per trial, naming the best.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from emotion_classification.training.checkpoint import TrainingHooks
from emotion_classification.training.sweep_results import SweepResult, committed_epochs, summarise
from emotion_classification.training.sweep_spec import (
    METRIC,
    MODE,
    TIME_ATTR,
    TUNE_DIR,
    SweepError,
    SweepSpec,
    most_epochs,
    parse_trial_flags,
    trial_flags,
)
from emotion_classification.utils.files import shown_path, write_json
from emotion_classification.utils.quiet import native_stderr_filtered

INSTALL_HINT = "pip install '.[ray]'"
#: What ASHA counts progress in: the epoch number (from 1) each report carries.
SPEC_RECORD = "sweep.json"
#: Environment a trial needs from the driver: the backend, and the data and cache folders
#: (made absolute: a trial runs in its own working directory).
FORWARDED_ENV = ("KERAS_BACKEND",)
FORWARDED_PATHS = ("EMOTION_CACHE_DIR", "FER2013_DIR")
#: What Ray's core prints when it starts, even with its log level turned down.
RAY_START_NOISE = re.compile(r"logging\.cc:\d+: Set ray log level from environment")




def ray_tune_missing() -> str | None:
    """The one-line problem when Ray Tune cannot be imported, else None."""
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        return f"sweep needs Ray Tune, which is not installed: {INSTALL_HINT}"
    return None


























def param_space(spec: SweepSpec) -> dict:
    """Tune's search space: ``trial`` over the named trials, one entry per searched flag."""
    from ray import tune

    space: dict[str, Any] = {}
    if spec.trials:
        space["trial"] = tune.grid_search(list(spec.trials))
    for flag, distribution in spec.search.items():
        ((kind, values),) = distribution.items()
        if kind == "grid":
            space[flag] = tune.grid_search(values)
        elif kind == "choice":
            space[flag] = tune.choice(values)
        elif kind == "randint":
            space[flag] = tune.randint(int(values[0]), int(values[1]) + 1)  # high included
        else:
            space[flag] = getattr(tune, kind)(*values)
    return space




def trial_name(trial, suffixed: bool) -> str:
    """A trial's name and folder: its named trial, else ``trial_<n>``; with ``suffixed``
    (named trials drawn several times) the name and the number."""
    number = trial.trial_id.rsplit("_", 1)[-1]
    named = trial.config.get("trial")
    if named is None:
        return f"trial_{number}"
    return f"{named}_{number}" if suffixed else str(named)


def run_trial(params: dict, *, spec: SweepSpec, sweep_dir: str, data_dir: str | None,
              environment: dict[str, str], hooks: TrainingHooks | None) -> None:
    """One Tune trial: ``train`` in ``sweep_dir/<trial>``, each committed epoch reported."""
    os.environ.update(environment)  # before the backend is imported
    from ray import tune

    from emotion_classification.training.loop import train

    name = tune.get_context().get_trial_name()
    config = parse_trial_flags(
        {**trial_flags(spec, params), "name": name, "runs-dir": sweep_dir,
         "data-dir": data_dir}, f"{spec.path}: trial {name}")
    reported: list[int] = []
    hooks = hooks or TrainingHooks()

    def report(epoch: int, logs: dict) -> None:
        hooks.epoch_logs(epoch, logs)
        reported.append(epoch)
        tune.report({TIME_ATTR: epoch, **{k: v for k, v in logs.items() if k != "epoch"}})

    record = train(config, hooks=dataclasses.replace(hooks, epoch_logs=report))
    if not reported:  # finished by an earlier process: tell Tune where it ended
        tune.report({TIME_ATTR: record["epochs_run"],
                     METRIC: committed_epochs(Path(sweep_dir) / name)[1] or math.nan})


def gpu_share_environment(gpus_per_trial: float) -> dict[str, str]:
    """Settings that let trials share a GPU: JAX takes only its share of the memory,
    TensorFlow grows its use as needed instead of taking it all."""
    if not 0 < gpus_per_trial < 1:
        return {}
    return {"XLA_PYTHON_CLIENT_MEM_FRACTION": f"{gpus_per_trial * 0.95:.3f}",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true"}




def check_same_spec(sweep_dir: Path, spec: SweepSpec) -> None:
    """Refuse to resume a sweep folder that was started from another sweep file's trials."""
    path = sweep_dir / SPEC_RECORD
    if path.is_file():
        theirs = json.loads(path.read_text(encoding="utf-8"))
        if theirs != spec.to_json():
            changed = sorted(k for k in set(theirs) | set(spec.to_json())
                             if theirs.get(k) != spec.to_json().get(k))
            raise SweepError(f"{shown_path(sweep_dir)}: this sweep was started from another "
                             f"sweep file ({', '.join(changed)} differ); give another --name")
    else:
        write_json(path, spec.to_json())


def make_tuner(spec: SweepSpec, sweep_dir: Path, trainable, resources: dict[str, float]):
    """A new Tuner for the sweep, its state kept in ``sweep_dir/tune``."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    scheduler = None
    if spec.scheduler is not None:
        from ray.tune.schedulers import ASHAScheduler

        # One past the last epoch: at max_t ASHA stops a trial, which would cut the last
        # epoch's trial off before its model is saved.
        scheduler = ASHAScheduler(time_attr=TIME_ATTR, max_t=most_epochs(spec) + 1,
                                  grace_period=int(spec.scheduler["grace_period"]),
                                  reduction_factor=float(spec.scheduler["reduction_factor"]))
    search_alg = None
    if spec.search_algorithm == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per study and trial
        search_alg = OptunaSearch()
    suffixed = bool(spec.trials) and (spec.samples > 1 or bool(spec.search))
    return tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(
            metric=METRIC, mode=MODE, num_samples=spec.samples, scheduler=scheduler,
            search_alg=search_alg, max_concurrent_trials=spec.max_concurrent_trials,
            trial_name_creator=functools.partial(trial_name, suffixed=suffixed),
            trial_dirname_creator=functools.partial(trial_name, suffixed=suffixed)),
        run_config=tune.RunConfig(
            name=TUNE_DIR, storage_path=str(sweep_dir), verbose=1,
            callbacks=[CSVLoggerCallback(), JsonLoggerCallback()]))




def run_sweep(spec: SweepSpec, sweep_dir: Path, *, address: str | None = None,
              resources: dict[str, float] | None = None, data_dir: str | None = None,
              hooks: TrainingHooks | None = None) -> SweepResult:
    """Run (or resume) the sweep into ``sweep_dir`` and write its table of trials."""
    from ray import tune

    from emotion_classification.batch.ray_engine import start_ray

    sweep_dir = Path(sweep_dir).absolute()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    check_same_spec(sweep_dir, spec)
    resources = resources or spec.resources_per_trial
    environment = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    environment.update({k: os.path.abspath(os.environ[k]) for k in FORWARDED_PATHS
                        if os.environ.get(k)})
    environment.update(gpu_share_environment(resources.get("gpu", 0)))
    # Tune's own TensorBoard logger would show every trial twice beside the runs' own logs.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    with native_stderr_filtered(RAY_START_NOISE):
        started = start_ray(address)
    try:
        trainable = tune.with_parameters(
            run_trial, spec=spec, sweep_dir=str(sweep_dir),
            data_dir=str(Path(data_dir).absolute()) if data_dir else None,
            environment=environment, hooks=hooks)
        experiment = sweep_dir / TUNE_DIR
        if tune.Tuner.can_restore(experiment):
            tuner = tune.Tuner.restore(str(experiment), trainable=tune.with_resources(
                trainable, resources), resume_unfinished=True, resume_errored=True)
        else:
            tuner = make_tuner(spec, sweep_dir, trainable, resources)
        with contextlib.redirect_stdout(sys.stderr):  # Tune's progress: stdout is the table
            grid = tuner.fit()
    finally:
        if started:
            import ray

            ray.shutdown()
    return summarise(spec, sweep_dir, grid)










