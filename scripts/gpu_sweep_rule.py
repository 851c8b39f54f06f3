"""GPU sweep 7's configs file and sizing rule (reports/sweep7_rule.txt, addendum of
2026-12-06), for scripts/gpu_sweep.py: pure functions, so the rule can be read and checked
apart from the processes that follow it."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "sweeps" / "gpu_sweep7.txt"
PACK_DIR = ROOT / ".gpu_sweep"
DATA_TAR = "fer2013_train.tar.xz"
MANIFEST = "manifest.json"
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

#: The rule's numbers.
CALL_S = 480            # the whole call, from the launcher's start
RESERVE_S = 75          # kept at the end: finishing runs cut at the deadline, then packing
SMOKE_CALL_S, SMOKE_RESERVE_S = 900, 120  # the CPU smoke test's (two cores compile slowly)
TIMING_SHARE = 0.4      # the timing runs must end within this share of the call
MIN_EPOCHS = 30         # the longest planned run must get at least this many epochs
MARGIN = 1.1            # the projection times this must fit: for what the timing misses
BAR = 0.7092            # validation accuracy a choice needs to become a candidate for shipping
SCALED_FLAGS = ("--epochs", "--early-stopping-patience", "--swa-start-epoch", "--warmup-epochs")
DEFAULT_EPOCHS = 50     # train's default --epochs


class SweepError(RuntimeError):
    """A bad input or state that stops the command with one line."""


@dataclass
class Run:
    """One line of the configs file: name, role, place in the drop order, train flags."""

    name: str
    role: str
    drop: int | None
    flags: list[str]
    index: int = 0


@dataclass
class Config:
    """The configs file: its macros (``NAME = flags``) and its runs, in file order."""

    macros: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)


def expand(text: str, macros: dict[str, str]) -> str:
    """Replace ``$NAME`` by its macro; an unknown name is an error."""
    def value(match: re.Match) -> str:
        if match[1] not in macros:
            raise SweepError(f"{CONFIG.name}: ${match[1]} is not defined above its use")
        return macros[match[1]]
    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", value, text)


def parse_run(line: str, macros: dict[str, str], index: int) -> Run:
    """A run line: ``name role drop flags...``."""
    parts = expand(line, macros).split()
    if len(parts) < 3 or parts[1] not in ("candidate", "reference", "spread"):
        raise SweepError(f"{CONFIG.name}: bad run line (name role drop flags): {line}")
    if parts[2] != "-" and not parts[2].isdigit():
        raise SweepError(f"{CONFIG.name}: drop must be a number or -: {line}")
    drop = None if parts[2] == "-" else int(parts[2])
    return Run(parts[0], parts[1], drop, parts[3:], index)


def read_config(path: Path) -> Config:
    """Read the configs file; macros apply to the lines below them."""
    if not path.is_file():
        raise SweepError(f"{path}: no such configs file")
    config = Config()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        macro = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)", line)
        if macro:
            config.macros[macro[1]] = expand(macro[2], config.macros)
        else:
            config.runs.append(parse_run(line, config.macros, len(config.runs)))
    return config


def flag_value(flags: list[str], flag: str) -> str | None:
    """The last value given to ``flag`` (argparse keeps the last), or None."""
    found = None
    for i, arg in enumerate(flags[:-1]):
        if arg == flag:
            found = flags[i + 1]
    return found


def with_flag(flags: list[str], flag: str, value: str) -> list[str]:
    """The flags with every ``flag VALUE`` pair set to ``value`` (appended if absent)."""
    out = list(flags)
    hits = [i for i, arg in enumerate(out[:-1]) if arg == flag]
    for i in hits:
        out[i + 1] = value
    return out if hits else out + [flag, value]


def planned_epochs(run: Run) -> int:
    """The run's ``--epochs`` as planned."""
    return int(flag_value(run.flags, "--epochs") or DEFAULT_EPOCHS)


def scaled_count(flag: str, value: int, factor: float, epochs: int) -> int:
    """One epoch count scaled by ``factor``: epochs and patience rounded down (the budget
    holds), the SWA start and warm-up rounded, each at least 1 (0 stays 0: off)."""
    if value == 0:
        return 0
    if flag in ("--epochs", "--early-stopping-patience"):
        return max(1, math.floor(value * factor + 1e-9))
    return min(epochs, max(1, round(value * factor)))


def scaled_flags(run: Run, factor: float) -> list[str]:
    """The run's flags with its epoch counts scaled; the reference run is never scaled."""
    if run.role == "reference" or factor >= 1:
        return list(run.flags)
    epochs = scaled_count("--epochs", planned_epochs(run), factor, 0)
    flags = list(run.flags)
    for flag in SCALED_FLAGS:
        value = flag_value(flags, flag)
        if value is not None:
            flags = with_flag(flags, flag, str(scaled_count(flag, int(value), factor, epochs)))
    return with_flag(flags, "--epochs", str(epochs))


def run_epochs(run: Run, factor: float) -> int:
    """How many epochs the run trains at this scale."""
    return int(flag_value(scaled_flags(run, factor), "--epochs") or DEFAULT_EPOCHS)


@dataclass
class Timing:
    """One run's timing: steady epoch seconds (sharing the GPU) and everything else."""

    epoch_s: float
    overhead_s: float


def projection(runs: list[Run], timings: dict[str, Timing], factor: float) -> float:
    """Projected seconds for ``runs`` trained together at this scale.

    The epoch times were measured with every planned run sharing the GPU; a smaller set is
    taken to share it in proportion to the summed epoch times (the rule's assumption). The
    slowest run sets the time; the largest overhead (start, compile, finish) is added once.
    """
    total = sum(t.epoch_s for t in timings.values())
    share = sum(timings[r.name].epoch_s for r in runs) / total
    longest = max(run_epochs(r, factor) * timings[r.name].epoch_s for r in runs)
    return max(timings[r.name].overhead_s for r in runs) + share * longest


def fit_factor(runs: list[Run], timings: dict[str, Timing], budget_s: float,
               cap: float) -> float:
    """The largest scale (at most ``cap``) at which MARGIN times the projection fits the
    budget; 0 if none."""
    budget_s = budget_s / MARGIN
    scaled = [r for r in runs if r.role != "reference"]
    if not scaled:
        return cap
    total = sum(t.epoch_s for t in timings.values())
    share = sum(timings[r.name].epoch_s for r in runs) / total
    room = budget_s - max(timings[r.name].overhead_s for r in runs)
    work = share * max(planned_epochs(r) * timings[r.name].epoch_s for r in scaled)
    factor = min(cap, room / work) if room > 0 else 0.0
    return factor if projection(runs, timings, factor) <= budget_s else 0.0


def drop_order(runs: list[Run]) -> list[Run]:
    """The droppable runs, first dropped first."""
    return sorted((r for r in runs if r.drop is not None), key=lambda r: r.drop)


def size_runs(runs: list[Run], timings: dict[str, Timing], budget_s: float,
              cap: float) -> tuple[list[Run], list[Run], float]:
    """The rule: scale every run by one factor so the set fits the budget; while the
    longest planned run would get fewer than MIN_EPOCHS epochs, drop the next run in the
    drop order. Returns the kept runs, the dropped ones and the factor."""
    kept, dropped = list(runs), []
    longest = max((planned_epochs(r) for r in runs if r.role != "reference"),
                  default=DEFAULT_EPOCHS)
    for victim in [*drop_order(runs), None]:
        factor = fit_factor(kept, timings, budget_s, cap)
        enough = math.floor(longest * factor + 1e-9) >= min(MIN_EPOCHS, longest * cap)
        if (factor > 0 and enough) or victim is None or len(kept) == 1:
            break
        kept.remove(victim)
        dropped.append(victim)
    return kept, dropped, max(factor, 1 / longest)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
