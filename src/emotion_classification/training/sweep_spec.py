"""A sweep's YAML file read and checked: fixed flags, the search space, named trials and the
Tune settings, every flag checked by ``train``'s own parser before Ray starts."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotion_classification.training.config import (
    TrainConfig,
    flag_value,
    name_problem,
    parse_train_args,
)
from emotion_classification.utils.files import shown_path

#: What Tune optimises: each epoch's validation accuracy, higher is better, per epoch.
METRIC = "val_accuracy"
MODE = "max"
TIME_ATTR = "epoch"
SPEC_KEYS = ("name", "fixed", "search", "trials", "samples", "search_algorithm", "scheduler",
             "resources_per_trial", "max_concurrent_trials", "definitions")


DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice", "grid")


SEARCH_ALGORITHMS = ("random", "optuna")


ROLES = ("candidate", "reference", "spread")


#: Flags the sweep sets for every trial itself, never the sweep file.
SWEEP_FLAGS = ("name", "runs-dir", "data-dir", "restart", "finish-only")


DEFAULT_GRACE_PERIOD_EPOCHS = 2


DEFAULT_REDUCTION_FACTOR = 2


class SweepError(ValueError):
    """A sweep file or sweep folder that cannot be used; the message names the file."""


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


TUNE_DIR = "tune"


def trial_flags(spec: SweepSpec, params: dict) -> dict[str, Any]:
    """The flags of one trial: the fixed ones, its named trial's, then the searched values."""
    named = spec.trials.get(params.get("trial"), {})
    return {**spec.fixed, **named, **{k: v for k, v in params.items() if k != "trial"}}
