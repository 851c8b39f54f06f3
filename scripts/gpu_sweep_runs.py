"""The ``train`` processes of scripts/gpu_sweep.py: start them, watch them against a
deadline (Ctrl-C, then kill), sample the GPU, and read what each run writes (its
``model.json`` and ``history.csv``) without importing the package."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from gpu_sweep_rule import ROOT, Timing


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


def default_interrupt() -> None:
    """In the child, before Python starts: Ctrl-C back to its default. A launcher started in
    the background inherits SIGINT ignored, and a Python started so never raises
    KeyboardInterrupt, so `train` could not be stopped at the deadline to save its epoch."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def launch(python: str, name: str, flags: list[str], work: Path, fraction: float) -> Process:
    """Start one ``train`` in the background, its output in ``work/logs/name.log``."""
    env = dict(os.environ, XLA_PYTHON_CLIENT_MEM_FRACTION=f"{fraction:.3f}",
               PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    command = train_command(python, name, flags, work / "runs")
    log = (work / "logs" / f"{name}.log").open("a", encoding="utf-8")
    log.write("$ " + shlex.join(command) + "\n")
    log.flush()
    popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=default_interrupt)
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


def last_line(work: Path, name: str) -> str:
    """The last line of a run's log: what a failed run said last."""
    lines = (work / "logs" / f"{name}.log").read_text(encoding="utf-8").splitlines()
    return lines[-1].strip() if lines else "empty log"
