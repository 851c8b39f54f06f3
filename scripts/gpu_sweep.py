"""GPU sweep 7 in one device call (issue 30): bring the train split, time the runs, size them
by the written rule, train them together on one GPU, choose by validation accuracy, pack.

``scripts/gpu_sweep.sh`` wraps the subcommands; see docs/training.md ("The sweep in one
device call"). Here, before the call: ``pack`` (train split and Keras wheels into
``.gpu_sweep/``), ``size`` (what would travel, against the device's 64 MiB),
``hide-models`` and ``show-models`` (keep the large model files out of the call). On the
device: ``run``, which follows reports/sweep7_rule.txt and its 2026-12-06 addendum.

It imports nothing from the package: it drives ``python -m emotion_classification train`` and
reads each run's ``model.json`` and ``history.csv``, so the package may move its modules.
Beside it: gpu_sweep_rule.py (the configs file and the sizing rule), gpu_sweep_runs.py (the
train processes) and gpu_sweep_pack.py (what is done here: pack, size, hide the models).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from gpu_sweep_pack import hide_models, pack, pixel_checksum, show_models, size_report
from gpu_sweep_rule import (
    BAR,
    CALL_S,
    CLASS_NAMES,
    CONFIG,
    DATA_TAR,
    MANIFEST,
    MIN_EPOCHS,
    PACK_DIR,
    RESERVE_S,
    SMOKE_CALL_S,
    SMOKE_RESERVE_S,
    TIMING_SHARE,
    Config,
    Run,
    SweepError,
    Timing,
    planned_epochs,
    projection,
    read_config,
    run_epochs,
    scaled_flags,
    sha256_file,
    size_runs,
    write_json,
)
from gpu_sweep_runs import (
    Clock,
    GpuSampler,
    epoch_times,
    last_line,
    launch,
    memory_fraction,
    read_record,
    timing_of,
    wait_all,
)

#: What comes back from the device: at most 8 files of 16 MiB, 64 MiB together.
OUT_FILES = 8
PART_BYTES = 15 * 2**20
MODEL_PARTS = 4
RECORD_PATTERNS = ("model.json", "config.json", "history.csv", "figures/*.png")
#: What `train` imports on JAX; the call stops at once, in one line, if one is missing.
PREFLIGHT_MODULES = ("jax", "keras", "tensorboard", "cv2", "numpy", "pandas", "matplotlib",
                     "sklearn")


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


def sweep_phase(python: str, runs: list[Run], factor: float, extra: list[str], work: Path,
                clock: Clock, deadline: float) -> list[str]:
    """Train the kept runs together until they end or the deadline; returns those cut."""
    fraction = memory_fraction(len(runs))
    clock.say(f"sweep: {len(runs)} runs together, memory fraction {fraction:.3f} each")
    processes = [launch(python, r.name, scaled_flags(r, factor) + extra, work, fraction)
                 for r in runs]
    sampler = GpuSampler(work / "gpu_samples.csv")
    return wait_all(processes, deadline, clock, tick=sampler.sample)


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
