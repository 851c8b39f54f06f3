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
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotion_classification.training.checkpoint import TrainingHooks
from emotion_classification.training.config import (
    TrainConfig,
    flag_value,
    name_problem,
    parse_train_args,
)
from emotion_classification.training.run_records import HISTORY_FILE, RECORD_FILE
from emotion_classification.utils.files import shown_path, write_json, write_text
from emotion_classification.utils.quiet import native_stderr_filtered

INSTALL_HINT = "pip install '.[ray]'"
METRIC = "val_accuracy"
MODE = "max"
#: What ASHA counts progress in: the epoch number (from 1) each report carries.
TIME_ATTR = "epoch"
TUNE_DIR = "tune"
SPEC_RECORD = "sweep.json"
TRIALS_CSV = "trials.csv"
SPEC_KEYS = ("name", "fixed", "search", "trials", "samples", "search_algorithm", "scheduler",
             "resources_per_trial", "max_concurrent_trials", "definitions")
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice", "grid")
SEARCH_ALGORITHMS = ("random", "optuna")
ROLES = ("candidate", "reference", "spread")
#: Flags the sweep sets for every trial itself, never the sweep file.
SWEEP_FLAGS = ("name", "runs-dir", "data-dir", "restart", "finish-only")
#: Environment a trial needs from the driver: the backend, and the data and cache folders
#: (made absolute: a trial runs in its own working directory).
FORWARDED_ENV = ("KERAS_BACKEND",)
FORWARDED_PATHS = ("EMOTION_CACHE_DIR", "FER2013_DIR")
#: What Ray's core prints when it starts, even with its log level turned down.
RAY_START_NOISE = re.compile(r"logging\.cc:\d+: Set ray log level from environment")
DEFAULT_GRACE_PERIOD_EPOCHS = 2
DEFAULT_REDUCTION_FACTOR = 2


class SweepError(ValueError):
    """A sweep file or sweep folder that cannot be used; the message names the file."""


def ray_tune_missing() -> str | None:
    """The one-line problem when Ray Tune cannot be imported, else None."""
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        return f"sweep needs Ray Tune, which is not installed: {INSTALL_HINT}"
    return None


@dataclass
class SweepSpec:
    """A sweep file, checked: its flags, search space, named trials and Tune settings."""

    path: Path
    name: str
    fixed: dict[str, Any] = field(default_factory=dict)
    search: dict[str, dict] = field(default_factory=dict)
    trials: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    samples: int = 1
    search_algorithm: str = "random"
    scheduler: dict | None = None
    resources_per_trial: dict[str, float] = field(default_factory=lambda: {"cpu": 1, "gpu": 0})
    max_concurrent_trials: int | None = None

    def to_json(self) -> dict:
        """What decides the sweep's trials (compared when a sweep resumes)."""
        return json.loads(json.dumps({k: v for k, v in dataclasses.asdict(self).items()
                                      if k not in ("path", "resources_per_trial",
                                                   "max_concurrent_trials")}))


def flag_key(key: str) -> str:
    """A sweep file's flag name as ``train`` spells it (``learning_rate`` -> ``learning-rate``)."""
    return str(key).strip().lstrip("-").replace("_", "-")


def flag_args(flags: dict[str, Any]) -> list[str]:
    """``{flag: value}`` as ``train`` arguments: booleans as ``--x``/``--no-x``, lists joined
    with commas, None as ``none``."""
    args: list[str] = []
    for key, value in flags.items():
        name = flag_key(key)
        if isinstance(value, bool):
            args.append(f"--{name}" if value else f"--no-{name}")
        else:
            args += [f"--{name}", flag_value(value)]
    return args


def parse_trial_flags(flags: dict[str, Any], where: str) -> TrainConfig:
    """The config ``train`` would build from these flags; its complaint as a SweepError."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            config, _ = parse_train_args(flag_args(flags))
    except SystemExit:
        lines = [line for line in captured.getvalue().splitlines() if line.strip()]
        reason = lines[-1].split("error: ", 1)[-1] if lines else "not valid train flags"
        raise SweepError(f"{where}: {reason}") from None
    return config


def mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SweepError(f"{where} must be a mapping of names to values")
    return value


def checked_flags(flags: dict, where: str) -> dict[str, Any]:
    """Flags of a sweep file with their names as ``train`` spells them; the sweep's own refused."""
    out = {}
    for key, value in mapping(flags, where).items():
        name = flag_key(key)
        if name in SWEEP_FLAGS:
            raise SweepError(f"{where}: --{name} is set by the sweep for each trial")
        out[name] = value
    return out


def checked_distribution(flag: str, spec, where: str) -> dict:
    """One ``search`` entry: ``{kind: values}`` with a known kind and usable values."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise SweepError(f"{where}: {flag} needs one distribution, e.g. {{choice: [a, b]}} "
                         f"({', '.join(DISTRIBUTIONS)})")
    ((kind, values),) = spec.items()
    if kind not in DISTRIBUTIONS:
        raise SweepError(f"{where}: {flag}: unknown distribution {kind!r}; use "
                         f"{', '.join(DISTRIBUTIONS)}")
    if not isinstance(values, list) or not values:
        raise SweepError(f"{where}: {flag}: {kind} takes a list of values")
    if kind in ("uniform", "loguniform", "randint"):
        if len(values) != 2 or not all(isinstance(v, int | float) for v in values) \
                or not values[0] < values[1]:
            raise SweepError(f"{where}: {flag}: {kind} takes [low, high] with low < high")
        if kind == "loguniform" and values[0] <= 0:
            raise SweepError(f"{where}: {flag}: loguniform needs a low bound above 0")
    return {kind: values}


def read_spec(path: Path, name: str | None = None) -> SweepSpec:
    """The sweep file at ``path``, checked: one :class:`SweepError` line for any problem."""
    import yaml

    shown = shown_path(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"{shown}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SweepError(f"{shown}: not a readable YAML sweep file ({reason})") from None
    data = mapping(data, shown)
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise SweepError(f"{shown}: unknown key(s) {', '.join(unknown)}; a sweep file holds "
                         f"{', '.join(SPEC_KEYS)}")
    spec = SweepSpec(path=Path(path), name=str(name or data.get("name") or Path(path).stem),
                     fixed=checked_flags(data.get("fixed"), f"{shown}: fixed"))
    problem = name_problem(spec.name)
    if problem:  # the sweep's folder must stay inside --runs-dir
        raise SweepError(f"{shown}: sweep name {problem}")
    spec.search = {flag_key(k): checked_distribution(flag_key(k), v, f"{shown}: search")
                   for k, v in mapping(data.get("search"), f"{shown}: search").items()}
    for trial, flags in mapping(data.get("trials"), f"{shown}: trials").items():
        flags = dict(mapping(flags, f"{shown}: trials: {trial}"))
        role = flags.pop("role", "candidate")
        problem = name_problem(str(trial))
        if problem:  # each trial's run folder must stay inside the sweep's
            raise SweepError(f"{shown}: trials: trial name {problem}")
        if role not in ROLES:
            raise SweepError(f"{shown}: trials: {trial}: role {role!r}; use {', '.join(ROLES)}")
        spec.trials[str(trial)] = checked_flags(flags, f"{shown}: trials: {trial}")
        spec.roles[str(trial)] = role
    read_tune_settings(spec, data, shown)
    check_trials(spec, shown)
    return spec


def read_tune_settings(spec: SweepSpec, data: dict, shown: str) -> None:
    """``samples``, ``search_algorithm``, ``scheduler``, resources and concurrency."""
    spec.samples = data.get("samples", 1)
    if not whole(spec.samples, 1):
        raise SweepError(f"{shown}: samples must be a whole number of at least 1")
    spec.search_algorithm = data.get("search_algorithm", "random")
    if spec.search_algorithm not in SEARCH_ALGORITHMS:
        raise SweepError(f"{shown}: search_algorithm {spec.search_algorithm!r}; use "
                         f"{', '.join(SEARCH_ALGORITHMS)}")
    if spec.search_algorithm == "optuna" and (spec.trials or any(
            "grid" in d for d in spec.search.values())):
        raise SweepError(f"{shown}: search_algorithm optuna samples the search space: it "
                         "takes no named trials and no grid (use choice)")
    scheduler = data.get("scheduler", "asha")
    if scheduler in (None, "none"):
        spec.scheduler = None
    else:
        settings = {"asha": {}} if scheduler == "asha" else mapping(scheduler, f"{shown}: scheduler")
        if set(settings) != {"asha"}:
            raise SweepError(f"{shown}: scheduler is asha (optionally with grace_period and "
                             "reduction_factor) or none")
        asha = mapping(settings["asha"], f"{shown}: scheduler: asha")
        spec.scheduler = {"grace_period": asha.pop("grace_period", DEFAULT_GRACE_PERIOD_EPOCHS),
                          "reduction_factor": asha.pop("reduction_factor",
                                                       DEFAULT_REDUCTION_FACTOR)}
        if asha or not whole(spec.scheduler["grace_period"], 1) or not (
                isinstance(spec.scheduler["reduction_factor"], int | float)
                and spec.scheduler["reduction_factor"] > 1):
            raise SweepError(f"{shown}: scheduler: asha takes grace_period (whole epochs, at "
                             "least 1) and reduction_factor (above 1)")
    resources = mapping(data.get("resources_per_trial"), f"{shown}: resources_per_trial")
    spec.resources_per_trial = {"cpu": resources.pop("cpu", 1), "gpu": resources.pop("gpu", 0)}
    if resources or not all(isinstance(v, int | float) and 0 <= v < math.inf
                            for v in spec.resources_per_trial.values()):
        raise SweepError(f"{shown}: resources_per_trial takes cpu and gpu, numbers of at "
                         "least 0 (a fraction of a GPU shares it)")
    spec.max_concurrent_trials = data.get("max_concurrent_trials")
    if spec.max_concurrent_trials is not None and not whole(spec.max_concurrent_trials, 1):
        raise SweepError(f"{shown}: max_concurrent_trials must be a whole number of at least 1")


def whole(value, least: int) -> bool:
    """``value`` is an int (not a bool) of at least ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def check_trials(spec: SweepSpec, shown: str) -> None:
    """Parse every named trial, and each searched value or bound, with ``train``'s parser, so
    a typo stops the sweep before Ray starts rather than inside a trial."""
    for trial, flags in (spec.trials or {"": {}}).items():
        where = f"{shown}: " + (f"trials: {trial}" if trial else "fixed")
        parse_trial_flags({**spec.fixed, **flags}, where)
        for flag, distribution in spec.search.items():
            for value in next(iter(distribution.values())):
                parse_trial_flags({**spec.fixed, **flags, flag: value},
                                  f"{shown}: search: {flag}")


def most_epochs(spec: SweepSpec) -> int:
    """The most epochs any trial can train (ASHA's last rung)."""
    epochs = []
    for flags in (spec.trials or {"": {}}).values():
        config = parse_trial_flags({**spec.fixed, **flags}, str(spec.path))
        searched = spec.search.get("epochs")
        epochs.append(max(next(iter(searched.values()))) if searched else config.epochs)
    return int(max(epochs))


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


def trial_flags(spec: SweepSpec, params: dict) -> dict[str, Any]:
    """The flags of one trial: the fixed ones, its named trial's, then the searched values."""
    named = spec.trials.get(params.get("trial"), {})
    return {**spec.fixed, **named, **{k: v for k, v in params.items() if k != "trial"}}


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


def committed_epochs(run_dir: Path) -> tuple[int, float | None]:
    """How many epochs a run has committed, and their best validation accuracy (None
    before the first)."""
    import pandas as pd

    path = run_dir / HISTORY_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return 0, None
    history = pd.read_csv(path)
    if METRIC not in history or not len(history):
        return len(history), None
    return len(history), round(float(history[METRIC].max()), 4)


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


@dataclass
class SweepResult:
    """The table of trials (one dict per trial), the best trial's name and whether every
    trial has ended (False after an interrupted sweep)."""

    rows: list[dict]
    best: str | None
    complete: bool
    csv_path: Path


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


def trial_statuses(experiment: Path) -> dict[str, str]:
    """Tune's status of each trial of an experiment (PENDING, RUNNING, TERMINATED, ERROR),
    by trial name."""
    from ray import tune

    return {Path(trial.path).name: trial.status
            for trial in tune.ExperimentAnalysis(str(experiment)).trials}


def trial_row(spec: SweepSpec, sweep_dir: Path, result, status: str) -> dict:
    """How one trial ended: its status, epochs, validation accuracy, run folder and flags."""
    name = Path(result.path).name
    run_dir = sweep_dir / name
    named = result.config.get("trial")
    row = {"trial": name, "role": spec.roles.get(named, "candidate")}
    if (run_dir / RECORD_FILE).is_file():
        record = json.loads((run_dir / RECORD_FILE).read_text(encoding="utf-8"))
        row.update(status="finished", epochs=record["epochs_run"],
                   validation_accuracy=record["validation"]["accuracy"])
    else:
        if status == "ERROR" and result.error is not None:
            status = f"error: {str(result.error).strip().splitlines()[-1][:120]}"
        elif status == "TERMINATED":
            status = "stopped early by ASHA"
        else:
            status = "unfinished"
        epochs, best_accuracy = committed_epochs(run_dir)
        row.update(status=status, epochs=epochs, validation_accuracy=best_accuracy)
    row["run"] = shown_path(run_dir)
    shown = set(spec.search) | set(spec.trials.get(named, {}))
    return {**row, **{f"--{k}": shown_value(v)
                      for k, v in sorted(trial_flags(spec, result.config).items()) if k in shown}}


def shown_value(value) -> str:
    """A flag's value for the table: drawn floats to 6 significant digits (the run's
    ``config.json`` keeps the exact value)."""
    return f"{value:.6g}" if isinstance(value, float) else flag_value(value)


def summarise(spec: SweepSpec, sweep_dir: Path, grid) -> SweepResult:
    """One row per trial (its flags, how it ended, its validation accuracy), the best named,
    written to ``trials.csv``."""
    import pandas as pd

    statuses = trial_statuses(sweep_dir / TUNE_DIR)
    rows = [trial_row(spec, sweep_dir, result, statuses.get(Path(result.path).name, "PENDING"))
            for result in grid]
    complete = all(row["status"] != "unfinished" for row in rows)
    best = choose_best(rows)
    for row in rows:
        row["best"] = "yes" if row["trial"] == best else ""
    table = pd.DataFrame(rows)
    csv_path = sweep_dir / TRIALS_CSV
    write_text(csv_path, table.to_csv(index=False))
    return SweepResult(rows=rows, best=best, complete=complete, csv_path=csv_path)


def choose_best(rows: list[dict]) -> str | None:
    """The candidate with the highest validation accuracy of its finished model; a trial
    stopped early competes only when no candidate finished."""
    candidates = [r for r in rows if r["role"] == "candidate"
                  and r.get("validation_accuracy") is not None]
    finished = [r for r in candidates if r["status"] == "finished"] or candidates
    if not finished:
        return None
    return max(finished, key=lambda r: r["validation_accuracy"])["trial"]
