"""Build the files made from the model inside a staging folder laid out like the project.

From a checked run (:mod:`.promote_checks`): the Keras file and its record, the history and
learning curves; the evaluation (calibration refitted on validation, the test report with
flip and ten-crop test-time augmentation, its figures); the ONNX and TFLite exports, refused
when they disagree with Keras on the validation faces; the export check (size, accuracy,
agreement and faces/s of each file, measured again in one process); Grad-CAM; and the
benchmark records promote does not measure again, marked so. Nothing outside the staging
folder is written, so stopping at any point changes nothing.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotion_classification.evaluation.explain import GRAD_CAM_FIGURE
from emotion_classification.labels import VIDEO_MODEL_ALIAS
from emotion_classification.training.promote_checks import CheckedRun, PromoteError
from emotion_classification.training.provenance import (
    CURVES_FIGURE,
    EVALUATION_FIGURES,
    EXPORT_REPORT,
    MADE,
    NOT_RE_MEASURED,
    PEERS_COMMAND,
    PEERS_REPORT,
    ROLES,
    STUDY_VIDEO,
    VIDEO_OUTPUTS,
    exported_files,
    measured_elsewhere,
    model_path,
)
from emotion_classification.training.run_records import HISTORY_FILE, MODEL_FILE
from emotion_classification.utils.files import shown_path, write_json

#: Least share of validation faces on which an export's top label must equal Keras': the
#: float files (ONNX, float32 TFLite) and the int8 TFLite file.
MIN_AGREEMENT = 0.99
MIN_INT8_AGREEMENT = 0.95
#: Test-time augmentations the evaluation report measures (the README shows both).
EVALUATION_TTA = "ten_crop"


@dataclass
class Stage:
    """What the stages share: where they write, the run, and what each derived file is."""

    root: Path
    folder: Path
    role: str
    run: CheckedRun
    data_dir: str | None
    small_per_class: int
    model_sha256: str
    same_model: bool = False  # the run's model is the one shipped now (same sha256)
    previous: dict = field(default_factory=dict)  # the provenance entries before
    statuses: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def path(self, relative: str) -> Path:
        """The staged file for ``relative`` (a path in the project), its folder made."""
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def model(self) -> Path:
        return self.folder / model_path(self.role)

    @property
    def figures(self) -> Path:
        return self.folder / "reports" / ROLES[self.role]["figures"]

    @property
    def report(self) -> Path:
        return self.folder / "reports" / ROLES[self.role]["report"]


def stage_model(stage: Stage) -> None:
    """The Keras file, its record (saying where it came from), history and curves."""
    import matplotlib.pyplot as plt

    from emotion_classification.utils.plots import plot_learning_curves

    shutil.copyfile(stage.run.folder / MODEL_FILE, stage.path(model_path(stage.role)))
    promoted = {"from": shown_path(stage.run.folder), "as": stage.role,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json(stage.model.with_suffix(".json"), {**stage.run.record, "promoted": promoted,
                                                  "model_sha256": stage.model_sha256})
    stage.statuses[f"models/{stage.model.stem}.json"] = MADE
    history = stage.run.folder / HISTORY_FILE
    if history.is_file():
        staged_history = stage.path(f"models/{stage.model.stem}.history.csv")
        shutil.copyfile(history, staged_history)
        plt.close(plot_learning_curves(staged_history, stage.figures / CURVES_FIGURE))
        stage.statuses[f"models/{staged_history.name}"] = MADE


def stage_evaluation(stage: Stage) -> dict:
    """Calibration on validation, the test report and its figures, and both in the record."""
    import matplotlib.pyplot as plt

    from emotion_classification.evaluation.evaluate import evaluate, store_in_model_record

    report_path = stage.path(f"reports/{ROLES[stage.role]['report']}")
    report = evaluate(str(stage.model), stage.data_dir, small_per_class=stage.small_per_class,
                      figure_dir=stage.figures, report_path=report_path,
                      update_model_json=False, tta=EVALUATION_TTA)
    plt.close("all")  # evaluate leaves its figures open for a notebook to show
    saved = json.loads(report_path.read_text(encoding="utf-8"))
    write_json(report_path, {**saved, "model": model_path(stage.role)})
    record = json.loads(stage.model.with_suffix(".json").read_text(encoding="utf-8"))
    store_in_model_record(str(stage.model), record, report)
    stage.statuses[f"reports/{ROLES[stage.role]['report']}"] = MADE
    for name in (*EVALUATION_FIGURES, CURVES_FIGURE):
        if (stage.figures / name).is_file():
            stage.statuses[f"reports/{ROLES[stage.role]['figures']}/{name}"] = MADE
    return report


def agreement(classifier, images: np.ndarray, keras_top: np.ndarray) -> float:
    """Share of ``images`` whose top label from ``classifier`` equals Keras'."""
    return float(np.mean(classifier.predict(images).argmax(axis=1) == keras_top))


def stage_exports(stage: Stage) -> None:
    """ONNX and TFLite files of the staged model, refused when they disagree with Keras."""
    from emotion_classification.models.export import export_onnx, export_tflite
    from emotion_classification.models.runtimes import KerasClassifier, open_classifier

    files = [export_onnx(stage.model, stage.model.parent),
             *export_tflite(stage.model, stage.model.parent).values()]
    images = stage.run.validation_images
    keras_top = KerasClassifier(stage.run.model).predict(images).argmax(axis=1)
    for file in files:
        share = agreement(open_classifier(file), images, keras_top)
        least = MIN_INT8_AGREEMENT if file.stem.endswith("_int8") else MIN_AGREEMENT
        if share < least:
            raise PromoteError(f"{shown_path(stage.run.folder / MODEL_FILE)}: its {file.name} "
                               f"export agrees with Keras on {share:.2%} of the validation "
                               f"faces (at least {least:.0%} expected)")
    for name in exported_files(stage.role):
        stage.statuses[name] = MADE


def stage_export_report(stage: Stage, test) -> None:
    """Size, accuracy, agreement and faces/s of each file, measured again in one process."""
    from emotion_classification.models.export import check_report, compare_with_keras
    from emotion_classification.models.runtimes import PREDICT_BATCH_SIZE

    stem = stage.model.stem
    names = {"tflite_float32": f"{stem}_float32.tflite", "tflite_int8": f"{stem}_int8.tflite",
             "onnx": f"{stem}.onnx"}
    table = compare_with_keras(stage.model, {k: stage.model.parent / v for k, v in names.items()},
                               test.images, test.labels)
    shipped = {k: Path("models") / v for k, v in names.items()}
    report = check_report(Path(model_path(stage.role)), shipped, table, len(test),
                          PREDICT_BATCH_SIZE, f"python -m emotion_classification promote "
                          f"{shown_path(stage.run.folder)}")
    write_json(stage.path(EXPORT_REPORT), report)
    stage.statuses[EXPORT_REPORT] = MADE


def stage_grad_cam(stage: Stage, test) -> None:
    """Grad-CAM of four test faces per class, as notebook 06 draws it."""
    import matplotlib.pyplot as plt

    from emotion_classification.evaluation.explain import plot_grad_cam_grid

    plt.close(plot_grad_cam_grid(stage.run.model, test, per_class=4,
                                 path=stage.figures / GRAD_CAM_FIGURE))
    stage.statuses[f"reports/{ROLES[stage.role]['figures']}/{GRAD_CAM_FIGURE}"] = MADE


def stage_video(stage: Stage) -> bool:
    """The study clip's outputs (``reports/video/woman2_*``) made with the new model and the
    video command's defaults, when the model is the one ``video`` uses by default; False,
    making nothing, for the other model or when the clip is not in ``data/videos/``.
    The source is recorded by its project path, so no machine path is committed."""
    from emotion_classification.inference.recognizer import EmotionRecognizer
    from emotion_classification.video.analyze import analyze_video
    from emotion_classification.video.outputs import output_paths, write_video_outputs
    from emotion_classification.video.timeline import summarize

    clip = stage.root / STUDY_VIDEO
    if stage.role != VIDEO_MODEL_ALIAS or not clip.is_file():
        return False
    recognizer = EmotionRecognizer(stage.model)
    table = analyze_video(clip, recognizer=recognizer)
    table.attrs.update(video=STUDY_VIDEO, source_text=STUDY_VIDEO, source_key=STUDY_VIDEO)
    summary = summarize(table, recognizer.class_names, smoothed=table.attrs["smoothing_s"] > 0)
    paths = output_paths(stage.path(VIDEO_OUTPUTS[0]).parent, clip.stem)
    write_video_outputs(table, summary, paths, recognizer.class_names)
    for name in VIDEO_OUTPUTS:
        stage.statuses[name] = MADE
    return True


def marker(stage: Stage, command: str, **extra) -> dict:
    """The ``not_re_measured`` entry of a benchmark record (read by the tables)."""
    return {"model_sha256": stage.model_sha256, "command": command,
            "why": "promote shipped another model; these numbers were measured with the one "
                   "before it", **extra}


def stage_benchmarks(stage: Stage) -> None:
    """Benchmark records of the previous model, marked not re-measured for the new one."""
    from emotion_classification.evaluation.tables import NOT_RE_MEASURED as KEY

    for name, command in measured_elsewhere(stage.role).items():
        if (stage.root / name).is_file():
            before = json.loads((stage.root / name).read_text(encoding="utf-8"))
            before = before.get("measured_with_previous_model", before)
            write_json(stage.path(name), {KEY: marker(stage, command),
                                          "measured_with_previous_model": before})
            stage.statuses[name] = NOT_RE_MEASURED
    peers = stage.root / PEERS_REPORT
    if peers.is_file():
        stage_peers(stage, json.loads(peers.read_text(encoding="utf-8")), KEY)


def stage_peers(stage: Stage, peers: dict, key: str) -> None:
    """peers.json without this project's rounds for the role's model (fer's stay)."""
    prefix = "project_fast_" if stage.role == "fast" else "project_"
    rounds = peers.get("throughput_faces_per_s", {})
    ours = [n for n in rounds if n.startswith(prefix)
            and (stage.role == "fast" or not n.startswith("project_fast_"))]
    kept = {n: v for n, v in rounds.items() if n not in ours}
    dropped = sorted({*ours, *peers.get(key, {}).get("rounds", [])})
    staged = {k: v for k, v in peers.items() if k != "fer_keras_over_project_per_round"
              or stage.role == "fast"}
    write_json(stage.path(PEERS_REPORT), {**staged, "throughput_faces_per_s": kept,
                                          key: marker(stage, PEERS_COMMAND, rounds=dropped)})
    if stage.role == "accurate":
        stage.statuses[PEERS_REPORT] = NOT_RE_MEASURED


def staged_files(stage: Stage) -> dict[str, Path]:
    """``{path in the project: staged file}`` for everything staged so far."""
    return {path.relative_to(stage.folder).as_posix(): path
            for path in sorted(stage.folder.rglob("*")) if path.is_file()}
