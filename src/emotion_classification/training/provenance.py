"""Which shipped model each derived file was made from: ``reports/provenance.json``.

A shipped model (``models/emotion_cnn.keras``, or ``models/emotion_cnn_fast.keras`` for the
fast model) has files made from it: its record with the calibration, the ONNX and TFLite
exports, the evaluation report and figures, the benchmark records the README tables read.
``promote`` rewrites them together and writes here, for each, the sha256 of the model it
came from, so a test can tell when one of them is older than the model now shipped.

Each entry's ``status`` says how the file relates to its model: ``made`` (made from it),
``not re-measured`` (a benchmark record that says so instead of showing another model's
numbers) or ``not re-made`` (left from an earlier model: the entry keeps that model's sha256,
and the provenance test names the file until it is made again).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from emotion_classification.evaluation.explain import GRAD_CAM_FIGURE
from emotion_classification.labels import VIDEO_MODEL_ALIAS
from emotion_classification.training.run_records import CURVES_FILE

PROVENANCE_PATH = "reports/provenance.json"
PROVENANCE_ABOUT = ("Which shipped model each file made from it came from (its sha256), written "
                    "by promote; tests/training/test_promote.py checks it against the shipped "
                    "model.")
MADE, NOT_RE_MEASURED, NOT_RE_MADE = "made", "not re-measured", "not re-made"
CHUNK_BYTES = 1 << 20
SHIPPED_STEM = "emotion_cnn"
#: What ``promote --as`` can replace: the model's file stem in models/, its evaluation report
#: and its figure folder in reports/. The fast model's files sit beside the accurate model's.
ROLES = {"accurate": {"stem": SHIPPED_STEM, "report": "evaluation.json", "figures": "figures"},
         "fast": {"stem": f"{SHIPPED_STEM}_fast", "report": "evaluation_fast.json",
                  "figures": "figures/fast"}}
#: Figures ``evaluate`` draws, and the learning curves drawn from the run's history.
EVALUATION_FIGURES = ("confusion_matrix.png", "test_gallery.png", "confident_mistakes.png",
                      "reliability.png")
CURVES_FIGURE = Path(CURVES_FILE).name
GROUP_PHOTO_FIGURES = ("group_photo.png", "group_photo_panel.png")
EXPORT_REPORT = "reports/benchmarks/export.json"
#: Benchmark records measured with the accurate model that promote does not measure again,
#: and the command that measures each.
ACCURATE_BENCHMARKS = {"reports/benchmarks/inference.json": "python scripts/benchmark_inference.py",
                       "reports/benchmarks/pipeline_gap.json":
                           "python scripts/benchmark_pipeline_gap.py",
                       "reports/benchmarks/streaming.json":
                           "python scripts/benchmark_streaming.py",
                       "reports/benchmarks/uncertainty.json":
                           "python scripts/benchmark_uncertainty.py"}
#: The video benchmark, measured with video's default model.
VIDEO_BENCHMARK = {"reports/benchmarks/video.json": "python scripts/benchmark_video.py"}
PEERS_REPORT = "reports/benchmarks/peers.json"
PEERS_COMMAND = "python scripts/benchmark_peers.py"
#: The video command's outputs for the study's clip, made with its default model.
VIDEO_OUTPUTS = tuple(f"reports/video/woman2_{name}" for name in (
    "emotions.csv", "summary.csv", "summary.json", "timeline.png"))
#: Where promote finds the study's clip (the same place as the group photo, data/README.md).
STUDY_VIDEO = "data/videos/woman2.mp4"


def sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(role: str) -> str:
    """The shipped model of a role, relative to the project root."""
    return f"models/{ROLES[role]['stem']}.keras"


def exported_files(role: str) -> list[str]:
    """The committed files exported from a role's model (ONNX and int8 TFLite)."""
    stem = ROLES[role]["stem"]
    return [f"models/{stem}.onnx", f"models/{stem}_int8.tflite"]


def derived_files(role: str) -> list[str]:
    """Every committed file made from a role's shipped model, relative to the project root."""
    stem, figures = ROLES[role]["stem"], f"reports/{ROLES[role]['figures']}"
    files = [f"models/{stem}.json", f"models/{stem}.history.csv", *exported_files(role),
             f"reports/{ROLES[role]['report']}",
             *(f"{figures}/{name}" for name in (*EVALUATION_FIGURES, CURVES_FIGURE))]
    if role == "accurate":
        files += [f"{figures}/{GRAD_CAM_FIGURE}",
                  *(f"{figures}/{name}" for name in GROUP_PHOTO_FIGURES),
                  EXPORT_REPORT, PEERS_REPORT]
    if role == VIDEO_MODEL_ALIAS:
        files += VIDEO_OUTPUTS
    return files + list(measured_elsewhere(role))


def measured_elsewhere(role: str) -> dict[str, str]:
    """``{record: command}`` for the benchmark records made from a role's model that promote
    does not measure again (it marks them not re-measured)."""
    records = dict(ACCURATE_BENCHMARKS) if role == "accurate" else {}
    if role == VIDEO_MODEL_ALIAS:
        records.update(VIDEO_BENCHMARK)
    return records


def read_provenance(path: Path) -> dict:
    """The provenance file, or an empty one when it is missing or unreadable (promote writes
    it again; the provenance test then names every derived file)."""
    try:
        provenance = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"files": {}}
    ok = isinstance(provenance, dict) and isinstance(provenance.get("files"), dict)
    return provenance if ok else {"files": {}}


def entry(role: str, source_sha256: str, status: str, file: Path | None = None) -> dict:
    """One file's provenance; ``file`` (an export) also records the file's own sha256."""
    made = {"source": model_path(role), "source_sha256": source_sha256, "status": status}
    return {**made, "sha256": sha256(file)} if file is not None else made


def stale_files(provenance: dict, root: Path) -> list[str]:
    """One line for each derived file that was not made from the model now shipped.

    A shipped model's derived file without an entry, an entry whose model has another sha256
    now, one marked ``not re-made``, and an export whose bytes changed since all count.
    """
    lines, files = [], provenance.get("files", {})
    for role in ROLES:
        if not (root / model_path(role)).is_file():
            continue
        shipped = sha256(root / model_path(role))
        for name in derived_files(role):
            found = files.get(name)
            if not (root / name).is_file():
                lines.append(f"{name}: missing")
            elif found is None:
                lines.append(f"{name}: no provenance entry")
            elif found["source_sha256"] != shipped or found["status"] == NOT_RE_MADE:
                lines.append(f"{name}: made from {found['source']} sha256 "
                             f"{found['source_sha256'][:12]}, shipped is {shipped[:12]}")
            elif "sha256" in found and sha256(root / name) != found["sha256"]:
                lines.append(f"{name}: changed since promote made it")
    return lines


def record_measurement(record: Path, model: Path, root: Path) -> bool:
    """After a benchmark script wrote ``record`` measuring ``model``: when that is a shipped
    model (accurate or fast) and the record is one of its derived files, the record's
    provenance entry becomes ``made`` from it (replacing promote's ``not re-measured``). True
    when it did."""
    from emotion_classification.utils.files import write_json

    name = record.resolve().relative_to(root.resolve()).as_posix() \
        if record.resolve().is_relative_to(root.resolve()) else None
    role = next((role for role in ROLES if name in derived_files(role)
                 and (root / model_path(role)).is_file()
                 and Path(model).resolve() == (root / model_path(role)).resolve()), None)
    if role is None:
        return False
    provenance = read_provenance(root / PROVENANCE_PATH)
    provenance.setdefault("about", PROVENANCE_ABOUT)
    provenance["files"][name] = entry(role, sha256(root / model_path(role)), MADE)
    provenance["files"] = dict(sorted(provenance["files"].items()))
    write_json(root / PROVENANCE_PATH, provenance)
    return True
