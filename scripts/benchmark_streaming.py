"""Throughput and memory of streaming ``predict`` as the number of photos grows.

For each count it makes that many small one-face photos (160 x 160 jittered crops of the
sample portrait, the tests' ``tests/portraits.py``) under the git-ignored
``outputs/bench_photos/<count>/``, runs the real command on them in a fresh process

    python -m emotion_classification predict outputs/bench_photos/<count> \\
        --out outputs/bench_out/<count> --no-resume --no-progress

and samples the process's resident memory every second. It reports the peak (the kernel's
``ru_maxrss`` of that process), the resident memory after every 250 images, and the
throughput: all images over the whole wall time, and the steady rate between the first and
the last journaled image (start-up excluded). A count that would take longer than
``--limit-s`` is stopped with Ctrl-C at that point (what it did stays indexed), and the report
says how far it got. Results are printed and written to ``reports/benchmarks/streaming.json``.

    python scripts/benchmark_streaming.py [--counts 1000,10000] [--limit-s 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from emotion_classification.batch.journal import JOURNAL_NAME
from emotion_classification.evaluation.portraits import write_portraits
from emotion_classification.labels import DEFAULT_MODEL_PATH
from emotion_classification.training.provenance import record_measurement
from emotion_classification.utils.files import project_root, write_json

ROOT = project_root()

DEFAULT_COUNTS = "1000,10000"
DEFAULT_LIMIT_S = 1800
DEFAULT_OUT = "reports/benchmarks/streaming.json"
PHOTO_SIZE_PX = 160
SAMPLE_EVERY_S = 1.0
MARK_EVERY_IMAGES = 250
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def photos_for(count: int) -> Path:
    """``count`` photos in ``outputs/bench_photos/<count>/``, made once and then reused."""
    folder = ROOT / "outputs" / "bench_photos" / str(count)
    if len(list(folder.glob("*.jpg"))) != count:
        write_portraits(folder, count, PHOTO_SIZE_PX)
    return folder


def rss_mb(pid: int) -> float:
    """Resident memory of a running process, from ``/proc/<pid>/statm``."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_KB / 1024


def journaled_images(out: Path) -> int:
    """Images journaled so far by the run writing ``out``."""
    path = out / JOURNAL_NAME
    return path.read_bytes().count(b'"key"') if path.exists() else 0


def run_count(count: int, args) -> dict:
    """Run predict on ``count`` photos; memory samples, times and how far it got."""
    folder, out = photos_for(count), ROOT / "outputs" / "bench_out" / str(count)
    shutil.rmtree(out, ignore_errors=True)  # an old journal would be counted as progress
    command = [sys.executable, "-m", "emotion_classification", "predict", str(folder),
               "--out", str(out), "--no-resume", "--no-progress", "--batch-images",
               str(args.batch_images), *(["--model", args.model] if args.model else [])]
    log = out.with_name(f"{count}.stderr.txt")
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "wb") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                    signal.SIG_DFL))
        return watch(process, count, command, out, log, start, args.limit_s)


def watch(process, count: int, command: list[str], out: Path, log: Path, start: float,
          limit_s: float) -> dict:
    """Sample the run's memory and progress every second until it ends (or is stopped)."""
    samples, first_done_s, stopped = [], None, False
    while True:
        time.sleep(SAMPLE_EVERY_S)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)  # usage: this process's own
        if pid:
            break
        elapsed_s, done = time.perf_counter() - start, journaled_images(out)
        if done and first_done_s is None:
            first_done_s = elapsed_s
        try:
            samples.append({"s": round(elapsed_s, 1), "images": done,
                            "rss_mb": round(rss_mb(process.pid), 1)})
        except (FileNotFoundError, ProcessLookupError):
            pass  # ended between the two calls: wait4 reaps it next time round
        if elapsed_s > limit_s and not stopped:
            process.send_signal(signal.SIGINT)
            stopped = True
    process.returncode = os.waitstatus_to_exitcode(status)
    wall_s, done = time.perf_counter() - start, journaled_images(out)
    return summarise(count, command, samples, wall_s, first_done_s, done, usage, stopped,
                     log.read_text(errors="replace").replace(f"{ROOT}{os.sep}", "")[-500:])


def summarise(count, command, samples, wall_s, first_done_s, done, usage, stopped, err) -> dict:
    """The numbers of one count: throughput, peak and per-tenth resident memory."""
    last_s = next((s["s"] for s in reversed(samples) if s["images"] == done), wall_s)
    steady = (done - 1) / (last_s - first_done_s) if first_done_s and last_s > first_done_s else None
    marks = []
    for mark in range(MARK_EVERY_IMAGES, count + 1, MARK_EVERY_IMAGES):
        sample = next((s for s in samples if s["images"] >= mark), None)
        if sample:
            marks.append({"images": sample["images"], "rss_mb": sample["rss_mb"]})
    return {"photos": count, "images_done": done, "stopped_at_limit": stopped,
            "wall_s": round(wall_s, 1), "images_per_s": round(done / wall_s, 2),
            "steady_images_per_s": round(steady, 2) if steady else None,
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "rss_by_images": marks,
            "command": shlex.join(os.path.relpath(part, ROOT) if part.startswith(str(ROOT))
                                  else part for part in command[1:]),
            **({"stderr_tail": err} if err.strip() else {})}


def merged_report(path: Path, runs: dict[int, dict]) -> dict:
    """The report with these runs, keeping earlier runs of other photo counts."""
    old = json.loads(path.read_text()).get("runs", []) if path.is_file() else []
    kept = {run["photos"]: run for run in old if run["photos"] not in runs}
    return {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
            "python": platform.python_version(),
            "runs": [v for _, v in sorted({**kept, **runs}.items())]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default=DEFAULT_COUNTS,
                        help="photo counts, comma-separated (default: %(default)s)")
    parser.add_argument("--limit-s", type=float, default=DEFAULT_LIMIT_S,
                        help="stop a count after this many seconds (default: %(default)s)")
    parser.add_argument("--batch-images", type=int, default=8,
                        help="predict's --batch-images (default: %(default)s)")
    parser.add_argument("--model", default=None,
                        help="predict's --model (default: the shipped model)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="JSON report, relative to the project (default: %(default)s)")
    args = parser.parse_args(argv)
    script = "python scripts/benchmark_streaming.py " + " ".join(argv or sys.argv[1:])
    runs = {}
    for count in (int(text) for text in args.counts.split(",")):
        runs[count] = {**run_count(count, args), "script": script}
        print(json.dumps({k: v for k, v in runs[count].items() if k != "rss_by_images"}))
    write_json(ROOT / args.out, merged_report(ROOT / args.out, runs))
    record_measurement(ROOT / args.out, ROOT / (args.model or DEFAULT_MODEL_PATH), ROOT)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
