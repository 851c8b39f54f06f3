"""GPU sweep 7 in one device call (issue 30): bring the train split, time the runs, size them
by the written rule, train them together on one GPU, choose by validation accuracy, pack.

``scripts/gpu_sweep.sh`` wraps the subcommands; see docs/training.md ("The sweep in one
device call"). Here, before the call: ``pack`` (train split and Keras wheels into
``.gpu_sweep/``), ``size`` (what would travel, against the device's 64 MiB),
``hide-models`` and ``show-models`` (keep the large model files out of the call). On the
device: ``run``, which follows reports/sweep7_rule.txt and its 2026-12-06 addendum.

It imports nothing from the package: it drives ``python -m emotion_classification train`` and
reads each run's ``model.json`` and ``history.csv``, so the package may move its modules.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "sweeps" / "gpu_sweep7.txt"
PACK_DIR = ROOT / ".gpu_sweep"
DATA_TAR = "fer2013_train.tar.xz"
MANIFEST = "manifest.json"
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
#: Keras' own needs that the device's image lacks (its KINDS.md lists what it has).
EXTRA_WHEELS = ("namex==0.1.0", "optree==0.20.0", "typing_extensions==4.16.0")
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                   "manylinux2014_x86_64", "manylinux1_x86_64")
#: What may travel to the device in one call: tracked and untracked files plus the carry.
TRAVEL_LIMIT_BYTES = 64 * 2**20
#: Tracked files under models/ at least this big are left out of the call.
HIDE_MIN_BYTES = 2**20
EXCLUDE_FILE = ROOT / ".git" / "info" / "exclude"
EXCLUDE_MARK = "# gpu_sweep: hidden for one device call; scripts/gpu_sweep.sh show-models undoes"

#: The rule's numbers (reports/sweep7_rule.txt, addendum of 2026-12-06).
CALL_S = 480            # the whole call, from the launcher's start
RESERVE_S = 75          # kept at the end: finishing runs cut at the deadline, then packing
SMOKE_CALL_S, SMOKE_RESERVE_S = 900, 120  # the CPU smoke test's (two cores compile slowly)
TIMING_SHARE = 0.4      # the timing runs must end within this share of the call
MIN_EPOCHS = 30         # the longest planned run must get at least this many epochs
MARGIN = 1.1            # the projection times this must fit: for what the timing misses
BAR = 0.7092            # validation accuracy a choice needs to become a candidate for shipping
SCALED_FLAGS = ("--epochs", "--early-stopping-patience", "--swa-start-epoch", "--warmup-epochs")
DEFAULT_EPOCHS = 50     # train's default --epochs

#: What comes back from the device: at most 8 files of 16 MiB, 64 MiB together.
OUT_FILES = 8
PART_BYTES = 15 * 2**20
MODEL_PARTS = 4
RECORD_PATTERNS = ("model.json", "config.json", "history.csv", "figures/*.png")
#: What `train` imports on JAX; the call stops at once, in one line, if one is missing.
PREFLIGHT_MODULES = ("jax", "keras", "tensorboard", "cv2", "numpy", "pandas", "matplotlib",
                     "sklearn")


class SweepError(RuntimeError):
    """A bad input or state that stops the command with one line."""


# ---------------------------------------------------------------- the configs file


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


# ---------------------------------------------------------------- flags and scaling


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


# ---------------------------------------------------------------- sizing (the rule)


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


# ---------------------------------------------------------------- run processes


class Clock:
    """Seconds since the launcher started, and the log every step writes to."""

    def __init__(self, started: float, log: Path):
        self.started, self.log = started, log

    def now(self) -> float:
        return time.time() - self.started

    def say(self, message: str) -> None:
        line = f"[gpu_sweep +{self.now():5.0f}s] {message}"
        print(line, flush=True)
        with self.log.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


@dataclass
class Process:
    """A running ``train``: its name, process and launch time."""

    name: str
    popen: subprocess.Popen
    launched: float
    ended: float | None = None


def train_command(python: str, name: str, flags: list[str], runs_dir: Path) -> list[str]:
    return [python, "-m", "emotion_classification", "train", "--name", name,
            "--runs-dir", str(runs_dir), *flags]


def launch(python: str, name: str, flags: list[str], work: Path, fraction: float) -> Process:
    """Start one ``train`` in the background, its output in ``work/logs/name.log``."""
    env = dict(os.environ, XLA_PYTHON_CLIENT_MEM_FRACTION=f"{fraction:.3f}",
               PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    command = train_command(python, name, flags, work / "runs")
    log = (work / "logs" / f"{name}.log").open("a", encoding="utf-8")
    log.write("$ " + shlex.join(command) + "\n")
    log.flush()
    popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Process(name, popen, time.time())


def note_ended(processes: list[Process], clock: Clock) -> None:
    """Log each process that has just ended, with its exit status and time."""
    for p in processes:
        if p.ended is None and p.popen.poll() is not None:
            p.ended = time.time()
            clock.say(f"{p.name} ended (exit {p.popen.returncode}) "
                      f"after {p.ended - p.launched:.0f} s")


def wait_all(processes: list[Process], deadline: float, clock: Clock,
             tick=lambda: None) -> list[str]:
    """Wait until every process ends or the deadline passes (calling ``tick`` each second);
    interrupt the rest (Ctrl-C, then kill). Returns the names that were cut."""
    while time.time() < deadline and any(p.popen.poll() is None for p in processes):
        note_ended(processes, clock)
        tick()
        time.sleep(1)
    note_ended(processes, clock)
    cut = [p for p in processes if p.popen.poll() is None]
    for p in cut:
        clock.say(f"{p.name} reached the deadline: interrupted")
        p.popen.send_signal(signal.SIGINT)
    stop_or_kill(cut, grace_s=20)
    for p in processes:
        p.ended = p.ended or time.time()
    return [p.name for p in cut]


def stop_or_kill(processes: list[Process], grace_s: float) -> None:
    """Give interrupted processes ``grace_s`` to save and exit, then kill them."""
    end = time.time() + grace_s
    while time.time() < end and any(p.popen.poll() is None for p in processes):
        time.sleep(0.5)
    for p in processes:
        if p.popen.poll() is None:
            p.popen.kill()
            p.popen.wait()


def memory_fraction(count: int) -> float:
    """Each of ``count`` processes sharing the GPU preallocates this share of its memory."""
    return min(0.45, 0.9 / max(1, count))


# ---------------------------------------------------------------- reading runs


def read_record(work: Path, name: str) -> dict | None:
    """A finished run's ``model.json``, or None."""
    path = work / "runs" / name / "model.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def epoch_times(work: Path, name: str) -> list[float]:
    """Seconds of each epoch, from the run's ``history.csv``."""
    path = work / "runs" / name / "history.csv"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    column = lines[0].split(",").index("epoch_time_s")
    return [float(line.split(",")[column]) for line in lines[1:] if line]


def timing_of(work: Path, process: Process) -> Timing | None:
    """Steady epoch time (the slowest epoch after the first) and the rest of the wall time;
    None if the timing run did not finish a second epoch."""
    times = epoch_times(work, process.name)
    if len(times) < 2:
        return None
    epoch_s = max(0.1, *times[1:])  # history rounds to 0.1 s
    wall_s = process.ended - process.launched
    return Timing(round(epoch_s, 2), round(max(0.0, wall_s - len(times) * epoch_s), 1))


# ---------------------------------------------------------------- the run subcommand


def timing_phase(python: str, runs: list[Run], extra: list[str], work: Path, clock: Clock,
                 deadline: float) -> dict[str, Timing]:
    """Every run's flags for a few epochs, all at once as they will share the GPU."""
    fraction = memory_fraction(len(runs))
    clock.say(f"timing: {len(runs)} runs together, memory fraction {fraction:.3f} each")
    processes = [launch(python, f"t_{r.name}", r.flags + extra, work, fraction) for r in runs]
    wait_all(processes, deadline, clock, tick=GpuSampler(work / "gpu_samples.csv").sample)
    timings = {}
    for run, process in zip(runs, processes, strict=True):
        timing = timing_of(work, process)
        if timing:
            timings[run.name] = timing
            clock.say(f"timing {run.name}: {timing.epoch_s} s per epoch, {timing.overhead_s} s "
                      "to start, compile and finish")
        else:
            clock.say(f"timing {run.name}: no second epoch (exit {process.popen.returncode}; "
                      f"{last_line(work, process.name)}): dropped")
    return timings


def last_line(work: Path, name: str) -> str:
    """The last line of a run's log: what a failed run said last."""
    lines = (work / "logs" / f"{name}.log").read_text(encoding="utf-8").splitlines()
    return lines[-1].strip() if lines else "empty log"


def sweep_phase(python: str, runs: list[Run], factor: float, extra: list[str], work: Path,
                clock: Clock, deadline: float) -> list[str]:
    """Train the kept runs together until they end or the deadline; returns those cut."""
    fraction = memory_fraction(len(runs))
    clock.say(f"sweep: {len(runs)} runs together, memory fraction {fraction:.3f} each")
    processes = [launch(python, r.name, scaled_flags(r, factor) + extra, work, fraction)
                 for r in runs]
    sampler = GpuSampler(work / "gpu_samples.csv")
    return wait_all(processes, deadline, clock, tick=sampler.sample)


class GpuSampler:
    """Every 10 s, nvidia-smi's utilisation and memory, for sizing later sweeps."""

    def __init__(self, path: Path):
        self.path, self.last = path, 0.0
        self.enabled = shutil.which("nvidia-smi") is not None

    def sample(self) -> None:
        if not self.enabled or time.time() - self.last < 10:
            return
        self.last = time.time()
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits"]
        result = subprocess.run(query, capture_output=True, text=True, timeout=10)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(f"{time.time():.0f},{result.stdout.strip()}\n")


def finish_cut(python: str, runs: list[Run], cut: list[str], factor: float,
               extra: list[str], work: Path, clock: Clock, deadline: float) -> None:
    """Finish each run cut at the deadline from its best saved epoch (``--finish-only``)."""
    chosen = [r for r in runs if r.name in cut and epoch_times(work, r.name)]
    if not chosen:
        return
    clock.say(f"finishing {len(chosen)} cut run(s) from their best saved epoch")
    processes = [launch(python, r.name, scaled_flags(r, factor) + extra + ["--finish-only"],
                        work, memory_fraction(len(chosen))) for r in chosen]
    wait_all(processes, deadline, clock)


def run_summary(work: Path, run: Run, factor: float, cut: list[str]) -> dict:
    """What the choice needs of one run: its role, epochs and validation numbers."""
    record = read_record(work, run.name) or {}
    summary = {"name": run.name, "role": run.role,
               "epochs_planned": planned_epochs(run), "epochs_scheduled": run_epochs(run, factor),
               "epochs_run": record.get("epochs_run"), "cut_at_deadline": run.name in cut,
               "validation": record.get("validation"), "finished": bool(record)}
    if "swa" in record:
        summary["swa"] = record["swa"]
    return summary


def choose(summaries: list[dict]) -> dict | None:
    """The rule's choice: the candidate with the highest validation accuracy (file order
    breaks a tie); None if no candidate finished."""
    finished = [s for s in summaries if s["role"] == "candidate" and s["finished"]]
    if not finished:
        return None
    return max(finished, key=lambda s: s["validation"]["accuracy"])


def data_check(data_dir: Path) -> dict:
    """The unpacked train split against the manifest written when it was packed: the
    archive's checksum and the images per class must match; the decoded pixels' checksum is
    reported (equal means the same training pixels as on the packing machine)."""
    manifest = json.loads((PACK_DIR / MANIFEST).read_text(encoding="utf-8"))
    archive = sha256_file(PACK_DIR / DATA_TAR)
    if archive != manifest["archive_sha256"]:
        raise SweepError(f"{DATA_TAR} does not match {MANIFEST} (pack again)")
    counts = {c: len(list((data_dir / "train" / c).glob("*.jpg"))) for c in CLASS_NAMES}
    if counts != manifest["counts"]:
        raise SweepError(f"unpacked train split has {counts}, {MANIFEST} says "
                         f"{manifest['counts']}")
    pixels = pixel_checksum(data_dir / "train")
    return {"archive_sha256": archive, "counts": counts, "pixel_sha256": pixels,
            "pixels_match_packing_machine": pixels == manifest["pixel_sha256"]}


def run_sweep(args: argparse.Namespace) -> int:
    """The whole device call: time, size, train, finish, choose, pack."""
    work, out = Path(args.work), Path(args.out)
    for sub in ("logs", "runs"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    clock = Clock(args.started, work / "gpu_sweep.log")
    call_s = args.call_s or (SMOKE_CALL_S if args.smoke else CALL_S)
    reserve_s = args.reserve_s or (SMOKE_RESERVE_S if args.smoke else RESERVE_S)
    config = read_config(Path(args.config))
    runs, extra, cap = pick_runs(config, args)
    python = sys.executable
    clock.say(f"{len(runs)} runs planned; call {call_s} s, reserve {reserve_s} s; "
              f"{device_line()}")
    clock.say(preflight(python))
    checked = data_check(Path(os.environ["FER2013_DIR"]))
    clock.say(f"train split: {sum(checked['counts'].values())} images as packed; decoded "
              f"pixels equal the packing machine's: {checked['pixels_match_packing_machine']}")
    timing_flags = config.macros.get("TIMING", "").split()
    timings = timing_phase(python, runs, timing_flags + extra, work, clock,
                           args.started + TIMING_SHARE * call_s)
    runs = [r for r in runs if r.name in timings]
    if not runs:
        return pack_and_report(work, out, clock, {"error": "no timing run finished"}, None)
    train_deadline = args.started + call_s - reserve_s
    budget_s = train_deadline - time.time()
    kept, dropped, factor = size_runs(runs, timings, budget_s, cap)
    plan = plan_record(kept, dropped, factor, timings, budget_s, checked)
    write_json(work / "plan.json", plan)
    clock.say(f"plan: factor {factor:.3f}, dropped {[r.name for r in dropped]}, kept "
              + ", ".join(f"{r.name} ({run_epochs(r, factor)} epochs)" for r in kept)
              + f"; projected {plan['projected_s']} s of {budget_s:.0f}")
    cut = sweep_phase(python, kept, factor, extra, work, clock, train_deadline)
    finish_cut(python, kept, cut, factor, extra, work, clock, args.started + call_s - 15)
    summaries = [run_summary(work, r, factor, cut) for r in kept]
    chosen = choose(summaries)
    choice = choice_record(summaries, chosen, plan)
    return pack_and_report(work, out, clock, choice, chosen)


def preflight(python: str) -> str:
    """Versions of what training imports and JAX's devices, in one line; raises if one is
    missing, before any run starts."""
    code = ("import importlib, jax\n"
            f"names = {PREFLIGHT_MODULES!r}\n"
            "found = [f\"{n} {getattr(importlib.import_module(n), '__version__', '?')}\" "
            "for n in names]\n"
            "print('; '.join(found) + '; devices ' + ', '.join(str(d) for d in jax.devices()))")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise SweepError(f"preflight: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    return result.stdout.strip()


def pick_runs(config: Config, args: argparse.Namespace) -> tuple[list[Run], list[str], float]:
    """The runs of this call, flags appended to each, and the cap on the scale factor:
    all runs for the GPU; for --smoke the two dropped last, with SMOKE flags, 2 epochs."""
    runs = config.runs
    if not args.smoke:
        return runs, [], 1.0
    last = sorted(runs, key=lambda r: -(r.drop if r.drop is not None else 10**6))[:args.smoke_runs]
    kept = [r for r in runs if r in last]
    longest = max(planned_epochs(r) for r in kept if r.role != "reference")
    return kept, config.macros.get("SMOKE", "").split(), args.smoke_epochs / longest


def device_line() -> str:
    """The GPU's name and memory, or 'no nvidia-smi'."""
    if not shutil.which("nvidia-smi"):
        return "no nvidia-smi (CPU)"
    query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    return subprocess.run(query, capture_output=True, text=True, timeout=20).stdout.strip()


def plan_record(kept: list[Run], dropped: list[Run], factor: float,
                timings: dict[str, Timing], budget_s: float, checked: dict) -> dict:
    """What the sizing decided and from what, for the report."""
    return {"rule": "reports/sweep7_rule.txt, addendum of 2026-12-06",
            "budget_s": round(budget_s, 1), "factor": round(factor, 4),
            "projected_s": round(projection(kept, timings, factor), 1),
            "min_epochs": MIN_EPOCHS,
            "timings": {k: vars(v) for k, v in timings.items()},
            "kept": {r.name: scaled_flags(r, factor) for r in kept},
            "dropped": [r.name for r in dropped], "data": checked}


def choice_record(summaries: list[dict], chosen: dict | None, plan: dict) -> dict:
    """The rule's choice with every run's numbers beside it."""
    ranked = sorted((s for s in summaries if s["finished"]),
                    key=lambda s: -s["validation"]["accuracy"])
    return {"rule": plan["rule"], "chosen": chosen["name"] if chosen else None,
            "chosen_validation_accuracy": chosen["validation"]["accuracy"] if chosen else None,
            "bar": BAR,
            "clears_bar": bool(chosen and chosen["validation"]["accuracy"] >= BAR),
            "test_folder": "not on the device; measured afterwards, after the choice",
            "factor": plan["factor"], "dropped": plan["dropped"],
            "ranking": [s["name"] for s in ranked], "runs": summaries}


# ---------------------------------------------------------------- packing what comes back


def records_archive(work: Path, path: Path) -> None:
    """Every run's record, config, history and curves, the logs and the plan, as tar.gz."""
    with tarfile.open(path, "w:gz") as tar:
        for name in ("gpu_sweep.log", "plan.json", "choice.json", "gpu_samples.csv"):
            if (work / name).is_file():
                tar.add(work / name, arcname=name)
        for log in sorted((work / "logs").glob("*.log")):
            tar.add(log, arcname=f"logs/{log.name}")
        for run_dir in sorted(p for p in (work / "runs").iterdir() if p.is_dir()):
            for pattern in RECORD_PATTERNS:
                for item in sorted(run_dir.glob(pattern)):
                    tar.add(item, arcname=f"runs/{item.relative_to(work / 'runs')}")


def split_file(source: Path, out: Path, stem: str) -> list[str]:
    """Copy ``source`` into ``out`` as parts of at most PART_BYTES; returns their names."""
    names = []
    with source.open("rb") as data:
        while chunk := data.read(PART_BYTES):
            name = f"{stem}.part{len(names):02d}"
            (out / name).write_bytes(chunk)
            names.append(name)
    return names


def pack_and_report(work: Path, out: Path, clock: Clock, choice: dict,
                    chosen: dict | None) -> int:
    """Write at most OUT_FILES files under ``out``: the records archive, the choice, and the
    chosen model (its record and the .keras in parts); 0 if a model was packed."""
    out.mkdir(parents=True, exist_ok=True)
    model = work / "runs" / chosen["name"] / "model.keras" if chosen else None
    if model is not None and model.is_file():
        parts_needed = math.ceil(model.stat().st_size / PART_BYTES)
        if parts_needed > MODEL_PARTS:
            clock.say(f"{model.name} is {model.stat().st_size} bytes: too big to bring back")
            model = None
        else:
            choice["model_sha256"] = sha256_file(model)
            choice["model_parts"] = split_file(model, out, "chosen_model.keras")
            shutil.copy(work / "runs" / chosen["name"] / "model.json", out / "chosen_model.json")
    write_json(work / "choice.json", choice)
    for run in choice.get("runs", []):
        accuracy = (run["validation"] or {}).get("accuracy")
        clock.say(f"{run['name']} ({run['role']}): validation accuracy {accuracy}, "
                  f"{run['epochs_run']} of {run['epochs_scheduled']} epochs"
                  + (", cut at the deadline" if run["cut_at_deadline"] else ""))
    clock.say(f"choice: {choice.get('chosen')} at validation accuracy "
              f"{choice.get('chosen_validation_accuracy')} (bar {BAR}: "
              f"{'cleared' if choice.get('clears_bar') else 'not cleared'})")
    shutil.copy(work / "choice.json", out / "choice.json")
    records_archive(work, out / "gpu_sweep_records.tar.gz")
    shutil.copy(work / "gpu_sweep.log", out / "gpu_sweep.log")
    files = sorted(p.name for p in out.iterdir())
    clock.say(f"packed {len(files)} files in {out}: {', '.join(files)}")
    if len(files) > OUT_FILES:
        raise SweepError(f"{len(files)} files under {out}: only {OUT_FILES} come back")
    return 0 if choice.get("model_parts") else 1


# ---------------------------------------------------------------- here: pack, size, hide


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def pixel_checksum(train_dir: Path) -> str:
    """sha256 of every image decoded as the package decodes it (OpenCV, grayscale), in
    sorted class and file order: equal here and there means the same training pixels."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2
    import numpy as np

    files = [p for c in CLASS_NAMES for p in sorted((train_dir / c).glob("*.jpg"))]

    def decode(path: Path) -> bytes:
        return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE).tobytes()

    digest = hashlib.sha256()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for pixels in pool.map(decode, files, chunksize=256):
            digest.update(pixels)
    return digest.hexdigest()


def find_train_split() -> Path:
    """``$FER2013_DIR`` or ../shared/data/fer2013 (as CI uses), holding train/<class>/."""
    root = Path(os.environ.get("FER2013_DIR") or ROOT.parent / "shared" / "data" / "fer2013")
    if not all((root / "train" / c).is_dir() for c in CLASS_NAMES):
        raise SweepError(f"{root}: no train/<class>/ folders (set FER2013_DIR)")
    return root


def pack_data(root: Path) -> dict:
    """Write the train split as a reproducible tar.xz (the JPEG bytes as they are: JPEG data
    does not compress, but xz shares their identical headers) and its manifest."""
    target = PACK_DIR / DATA_TAR
    counts = {c: len(list((root / "train" / c).glob("*.jpg"))) for c in CLASS_NAMES}
    manifest_path = PACK_DIR / MANIFEST
    if target.is_file() and manifest_path.is_file():
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if old.get("counts") == counts and old.get("archive_sha256") == sha256_file(target):
            print(f"{target.relative_to(ROOT)} is up to date")
            return old
    print(f"packing {root / 'train'} into {target.relative_to(ROOT)} (xz -9e, about a minute)")
    tar = ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0",
           "-C", str(root), "-cf", "-", "train"]
    with open(f"{target}.tmp", "wb") as packed:
        tar_process = subprocess.Popen(tar, stdout=subprocess.PIPE)
        subprocess.run(["xz", "-9e", "-T1"], stdin=tar_process.stdout, stdout=packed, check=True)
        if tar_process.wait() != 0:
            raise SweepError(f"tar failed on {root / 'train'}")
    os.replace(f"{target}.tmp", target)
    import cv2

    manifest = {"archive": DATA_TAR, "archive_sha256": sha256_file(target),
                "archive_bytes": target.stat().st_size, "counts": counts,
                "pixel_sha256": pixel_checksum(root / "train"),
                "decoder": f"opencv {cv2.__version__}", "source": str(root)}
    write_json(manifest_path, manifest)
    return manifest


def keras_requirement() -> str:
    """The pinned Keras of requirements.txt (the device's image has no Keras)."""
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("keras=="):
            return line.strip()
    raise SweepError("requirements.txt pins no keras==")


def pack_wheels() -> None:
    """Download Keras and its needs missing on the device as Python 3.12 x86-64 wheels."""
    wheels = PACK_DIR / "wheels"
    wanted = (keras_requirement(), *EXTRA_WHEELS)
    have = {p.name.split("-")[0].lower() for p in wheels.glob("*.whl")}
    missing = [w for w in wanted if w.split("==")[0].lower() not in have]
    if not missing:
        print(f"{wheels.relative_to(ROOT)} is up to date")
        return
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *platforms, "-d", str(wheels), *missing], check=True)


def tree_files() -> list[Path]:
    """The files that travel with a call: tracked and untracked files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    paths = {ROOT / p for p in listed.stdout.decode().split("\0") if p}
    return sorted(p for p in paths if p.is_file() and not p.is_symlink())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def large_model_files() -> list[str]:
    """Tracked files under models/ of at least HIDE_MIN_BYTES (the shipped model's files)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--", "models"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return [p for p in listed if p and (ROOT / p).is_file()
            and (ROOT / p).stat().st_size >= HIDE_MIN_BYTES]


def hidden_files() -> list[str]:
    """The files that hide-models listed in .git/info/exclude."""
    if not EXCLUDE_FILE.is_file():
        return []
    lines = EXCLUDE_FILE.read_text(encoding="utf-8").splitlines()
    if EXCLUDE_MARK not in lines:
        return []
    start = lines.index(EXCLUDE_MARK) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("/"):
            break
        block.append(line[1:])
    return block


def size_report() -> int:
    """Print what would travel (tree plus carry) against the 64 MiB; 1 if over."""
    tree = sum(p.stat().st_size for p in tree_files())
    carry = folder_bytes(PACK_DIR) if PACK_DIR.is_dir() else 0
    models = sum((ROOT / p).stat().st_size for p in large_model_files() if p not in hidden_files())
    mib = 2**20
    print(f"tree {tree / mib:.1f} MiB (of which large model files {models / mib:.1f} MiB), "
          f"carry {PACK_DIR.name} {carry / mib:.1f} MiB: {(tree + carry) / mib:.1f} MiB of "
          f"{TRAVEL_LIMIT_BYTES / mib:.0f}")
    if tree + carry <= TRAVEL_LIMIT_BYTES:
        print("fits" + (" (models hidden)" if hidden_files() else ""))
        return 0
    left = tree + carry - models
    print(f"over; with the large model files hidden (scripts/gpu_sweep.sh hide-models) it "
          f"would be {left / mib:.1f} MiB")
    return 1


def hide_models() -> int:
    """Untrack the large model files in the index and ignore them, so no call carries them."""
    if hidden_files():
        print("already hidden: " + ", ".join(hidden_files()))
        return 0
    staged = subprocess.run(["git", "diff", "--cached", "--quiet", "--", "models"], cwd=ROOT)
    if staged.returncode:
        raise SweepError("models/ has staged changes: commit or unstage them first")
    files = large_model_files()
    subprocess.run(["git", "rm", "-q", "--cached", "--", *files], cwd=ROOT, check=True)
    with EXCLUDE_FILE.open("a", encoding="utf-8") as exclude:
        exclude.write("\n".join([EXCLUDE_MARK, *(f"/{p}" for p in files)]) + "\n")
    print("hidden until show-models (commit nothing meanwhile): " + ", ".join(files))
    return 0


def show_models() -> int:
    """Undo hide-models: the files tracked again as in HEAD, the exclude lines removed."""
    files = hidden_files()
    if not files:
        print("nothing hidden")
        return 0
    subprocess.run(["git", "reset", "-q", "--", *files], cwd=ROOT, check=True)
    lines = EXCLUDE_FILE.read_text(encoding="utf-8").splitlines()
    start = lines.index(EXCLUDE_MARK)
    kept = lines[:start] + lines[start + 1 + len(files):]
    EXCLUDE_FILE.write_text("\n".join(kept) + ("\n" if kept else ""), encoding="utf-8")
    print("tracked again: " + ", ".join(files))
    return 0


def pack(_: argparse.Namespace) -> int:
    """Everything the call carries, then the size check."""
    PACK_DIR.mkdir(exist_ok=True)
    manifest = pack_data(find_train_split())
    pack_wheels()
    print(f"train split: {sum(manifest['counts'].values())} images, "
          f"{manifest['archive_bytes'] / 2**20:.1f} MiB")
    return size_report()


# ---------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="scripts/gpu_sweep.sh", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("pack", help="here: train split and Keras wheels into .gpu_sweep/")
    sub.add_parser("size", help="here: what would travel, against 64 MiB")
    sub.add_parser("hide-models", help="here: keep the large model files out of the call")
    sub.add_parser("show-models", help="here: undo hide-models")
    run = sub.add_parser("run", help="on the device: the sweep into --out")
    run.add_argument("--started", type=float, default=time.time(),
                     help="the launcher's start (epoch seconds): the call's clock")
    run.add_argument("--work", required=True, help="scratch folder (runs, logs)")
    run.add_argument("--out", required=True, help="folder of what comes back ($OUT)")
    run.add_argument("--config", default=str(CONFIG), help="the configs file")
    run.add_argument("--call-s", type=float, default=0,
                     help=f"the call's seconds (default {CALL_S}; {SMOKE_CALL_S} with --smoke)")
    run.add_argument("--reserve-s", type=float, default=0,
                     help=f"seconds kept at the end to finish cut runs and pack (default "
                          f"{RESERVE_S}; {SMOKE_RESERVE_S} with --smoke)")
    run.add_argument("--smoke", action="store_true",
                     help="CPU check: two runs, SMOKE flags, a couple of epochs")
    run.add_argument("--smoke-runs", type=int, default=2)
    run.add_argument("--smoke-epochs", type=int, default=2)
    return top


COMMANDS = {"pack": pack, "size": lambda _: size_report(), "hide-models": lambda _: hide_models(),
            "show-models": lambda _: show_models(), "run": run_sweep}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (SweepError, subprocess.CalledProcessError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
