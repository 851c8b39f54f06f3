"""Cross-dataset evaluation: how the model does on another labelled emotion dataset.

    python -m emotion_classification evaluate --data DIR [--codes rafdb] [--map calm=neutral]
        [--class-map FILE] [--detect]

The dataset's folders are mapped to the model's classes (:mod:`.class_map`), its images read
as face crops or, with ``detect``, run through MTCNN first (:mod:`.labelled_folder`), and
the model scores them with the calibration stored in its JSON, as ``predict`` does: the
numbers say what a user of the shipped pipeline gets on such data, and need no FER2013.

Only the classes the dataset has are scored: accuracy, macro-F1 and per-class recall over
them, and a confusion matrix whose rows are those classes and whose columns are everything
the model can answer. With ``detect``, images without a face are an answer too: wrong in
the *all images* numbers, left out of the *detected faces* numbers. The JSON report and the
figures go to ``outputs/evaluation/<dataset name>-<hash>/`` (a short hash of the folder's
resolved path, so two datasets whose folders share a name never overwrite each other's
results), never to ``reports/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, f1_score

from emotion_classification.data.class_map import ClassMap
from emotion_classification.data.fer2013 import DatasetError
from emotion_classification.evaluation.evaluate import EVALUATION_OUTPUT_DIR
from emotion_classification.evaluation.labelled_folder import (
    LabelledImages,
    list_labelled_folder,
    read_labelled_images,
)
from emotion_classification.labels import CLASS_NAMES

#: Each dataset's evaluation goes in its own folder of ``evaluate``'s output folder.
DATASET_OUTPUT_DIR = EVALUATION_OUTPUT_DIR
#: ``figure_dir``/``report_path`` value meaning ``outputs/evaluation/<dataset name>/``.
BESIDE_DATASET = "beside the dataset's name"
#: The column of images in which the detector found no face.
NO_FACE = "no face"
#: Predicted label of an image without a face (never a class index).
NO_FACE_LABEL = -1
COMMITTED_REPORTS_DIR = "reports"


def dataset_outputs(dataset: str | Path) -> tuple[Path, Path]:
    """Figures and report of a dataset's evaluation: ``outputs/evaluation/<name>-<hash>/``,
    one folder per dataset folder (see the module)."""
    from emotion_classification.utils.files import project_path
    from emotion_classification.utils.names import resolved, unique_name

    name = unique_name(dataset, "dataset", label=resolved(dataset).name)
    folder = project_path(DATASET_OUTPUT_DIR) / name
    return folder / "figures", folder / "evaluation.json"


def refuse_reports_dir(path: Path) -> None:
    """``reports/`` holds the shipped model's FER2013 numbers: another dataset's report or
    figures must never land there (one clear error instead)."""
    from emotion_classification.utils.files import project_path

    if path.resolve().is_relative_to(project_path(COMMITTED_REPORTS_DIR).resolve()):
        raise DatasetError(f"{path}: reports/ holds the shipped model's FER2013 results; "
                           f"write another dataset's evaluation elsewhere (default: "
                           f"{DATASET_OUTPUT_DIR}/<name>/)")


def present_classes(labels: np.ndarray) -> list[int]:
    """Indices of the classes with at least one image, in class order."""
    return sorted(int(label) for label in np.unique(labels))


def scores(labels: np.ndarray, predicted: np.ndarray, present: list[int]) -> dict:
    """Accuracy, macro-F1 and per-class recall/precision/F1 over the classes present.

    ``predicted`` may hold :data:`NO_FACE_LABEL`: such an image is simply wrong."""
    if len(labels) == 0:
        return {"n": 0, "accuracy": None, "macro_f1": None, "per_class": {}}
    names = [CLASS_NAMES[i] for i in present]
    report = classification_report(labels, predicted, labels=present, target_names=names,
                                   output_dict=True, zero_division=0)
    per_class = {name: {"recall": round(float(report[name]["recall"]), 4),
                        "precision": round(float(report[name]["precision"]), 4),
                        "f1": round(float(report[name]["f1-score"]), 4),
                        "support": int(report[name]["support"])} for name in names}
    return {"n": int(len(labels)), "accuracy": round(float(np.mean(predicted == labels)), 4),
            "macro_f1": round(float(f1_score(labels, predicted, labels=present,
                                             average="macro", zero_division=0)), 4),
            "per_class": per_class}


def confusion(labels: np.ndarray, predicted: np.ndarray, present: list[int],
              detect: bool) -> pd.DataFrame:
    """Counts: one row per class present, one column per answer of the model (and
    :data:`NO_FACE` with ``detect``)."""
    answers = [*range(len(CLASS_NAMES)), *([NO_FACE_LABEL] if detect else [])]
    columns = [*CLASS_NAMES, *([NO_FACE] if detect else [])]
    table = pd.DataFrame(0, index=[CLASS_NAMES[i] for i in present], columns=columns)
    for row, true in zip(table.index, present, strict=True):
        answered = predicted[labels == true]
        table.loc[row] = [int(np.sum(answered == a)) for a in answers]
    return table


def model_calibration(record: dict) -> tuple[float, float | None, str]:
    """Temperature, uncertain threshold and where they come from, as ``predict`` uses them."""
    stored = record.get("calibration") or {}
    if "temperature" in stored:
        return (float(stored["temperature"]), stored.get("uncertain_threshold"),
                "stored in the model's JSON (as predict uses it)")
    return 1.0, None, "none: the model's JSON stores no calibration"


def evaluate_dataset(path: str | Path, model_path: str | None = None, *,
                     class_map: ClassMap | dict | None = None, detect: bool = False,
                     tta: bool = False, figure_dir: str | Path | None = BESIDE_DATASET,
                     report_path: str | Path | None = BESIDE_DATASET, seed: int = 0) -> dict:
    """Evaluate a model on a labelled folder dataset; return the report (also written).

    ``class_map`` is a :class:`ClassMap` or a plain ``{folder: class or "drop"}`` dict on
    top of the built-in spellings. ``figure_dir``/``report_path`` left at
    ``BESIDE_DATASET`` go to ``outputs/evaluation/<name>/``; ``None`` writes nothing; a
    path inside ``reports/`` is refused. The returned report also names where it went
    (``report_path``, ``figure_dir``)."""
    from emotion_classification.inference.calibration import (
        apply_temperature,
        expected_calibration_error,
        uncertain_split_accuracy,
    )
    from emotion_classification.inference.detection import mean_over_margins
    from emotion_classification.models.runtimes import load_model_and_record, predict_probs
    from emotion_classification.utils.files import project_path, write_json

    default_figures, default_report = dataset_outputs(path)
    figure_dir = default_figures if figure_dir == BESIDE_DATASET else figure_dir
    report_path = default_report if report_path == BESIDE_DATASET else report_path
    for target in (figure_dir, report_path):
        if target is not None:
            refuse_reports_dir(project_path(target))
    if not isinstance(class_map, ClassMap):
        class_map = ClassMap(class_map or {})
    listing = list_labelled_folder(path, class_map)
    model, record = load_model_and_record(model_path)
    images = read_labelled_images(listing, detector() if detect else None)
    temperature, threshold, fitted_on = model_calibration(record)
    probs = mean_over_margins(
        lambda crops: apply_temperature(predict_probs(model, crops, tta=tta), temperature),
        images.margin_crops)
    report = dataset_report(path, model_path, class_map, listing, images, probs, detect, tta)
    report["calibration"] = {"temperature": temperature, "uncertain_threshold": threshold,
                             "fitted_on": fitted_on}
    if len(images.labels):
        report["calibration"]["ece_scored_faces"] = round(
            expected_calibration_error(probs, images.labels), 4)
    if threshold is not None and len(images.labels):
        report["calibration"]["uncertain_rule"] = uncertain_split_accuracy(
            probs, images.labels, float(threshold))
    if figure_dir is not None:
        write_dataset_figures(project_path(figure_dir), images, probs, report, seed)
    if report_path is not None:
        write_json(project_path(report_path), report)
        report["report_path"] = str(project_path(report_path))
    if figure_dir is not None:
        report["figure_dir"] = str(project_path(figure_dir))
    return report


def detector():
    """MTCNN at ``predict``'s default threshold and smallest face size."""
    from emotion_classification.inference.detection import FaceDetector

    return FaceDetector()


def dataset_report(path, model_path, class_map: ClassMap, listing, images: LabelledImages,
                   probs: np.ndarray, detect: bool, tta: bool) -> dict:
    """Counts, the class mapping used, both score blocks and the confusion matrix."""
    from emotion_classification.inference.detection import (
        DEFAULT_DETECTOR_THRESHOLD,
        DEFAULT_MIN_FACE_SIZE_PX,
    )

    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
    all_labels = np.concatenate([images.labels, images.no_face_labels])
    all_predicted = np.concatenate([predicted, np.full(len(images.no_face_labels),
                                                       NO_FACE_LABEL)])
    present = present_classes(all_labels)
    report = {
        "model": str(model_path or "models/emotion_cnn.keras"), "data": str(path),
        "detect": detect, "tta": tta,
        "class_map": {**class_map.describe(), "folders": listing.folders},
        "images": {"scored": int(len(all_labels)), "dropped": listing.dropped,
                   "unknown_folders": listing.unknown, "unreadable": len(images.unreadable),
                   "resized_to_48px": images.resized, "not_square": images.not_square},
        "classes_present": [CLASS_NAMES[i] for i in present],
        "absent_classes": [name for i, name in enumerate(CLASS_NAMES) if i not in present]}
    if detect:
        report["detection"] = {"detector_threshold": DEFAULT_DETECTOR_THRESHOLD,
                               "min_face_size_px": DEFAULT_MIN_FACE_SIZE_PX,
                               "faces_used": "the largest face of each image",
                               "no_face": int(len(images.no_face_labels)),
                               "several_faces": images.several_faces}
        report["all_images"] = scores(all_labels, all_predicted, present)
        report["detected_faces"] = scores(images.labels, predicted, present)
    else:
        report["all_images"] = scores(images.labels, predicted, present)
    report["confusion_matrix"] = confusion(all_labels, all_predicted, present,
                                           detect).to_dict(orient="index")
    return report


def plot_dataset_confusion(table: pd.DataFrame, title: str, path=None):
    """Counts and row-normalised (recall) heatmaps of a rows-present confusion table."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from emotion_classification.utils.plots import save_figure

    normalised = table.div(table.sum(axis=1).clip(lower=1), axis=0)
    width_in = 2.2 + 0.9 * len(table.columns)
    fig, axes = plt.subplots(1, 2, figsize=(2 * width_in, 1.2 + 0.8 * len(table)))
    for ax, matrix, fmt, kind in ((axes[0], table, "d", "counts"),
                                  (axes[1], normalised, ".2f", "row-normalised (recall)")):
        sns.heatmap(matrix, annot=True, fmt=fmt, cmap="Blues", cbar=False, ax=ax)
        ax.set_xlabel("model's answer")
        ax.set_ylabel("dataset's label")
        ax.set_title(f"{title}: {kind}")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def write_dataset_figures(figure_dir: Path, images: LabelledImages, probs: np.ndarray,
                          report: dict, seed: int) -> None:
    """The confusion matrix and, when faces were scored, galleries of what the model saw."""
    import matplotlib.pyplot as plt

    from emotion_classification.utils import plots

    table = pd.DataFrame(report["confusion_matrix"]).T
    figures = [plot_dataset_confusion(table, Path(report["data"]).name,
                                      figure_dir / "confusion_matrix.png")]
    if len(images.labels):
        figures.append(plots.plot_prediction_gallery(images.crops, images.labels, probs,
                                                     figure_dir / "gallery.png", seed=seed))
        figures.append(plots.plot_confident_mistakes(images.crops, images.labels, probs,
                                                     figure_dir / "confident_mistakes.png"))
    for fig in figures:
        plt.close(fig)


def scores_table(block: dict) -> pd.DataFrame:
    """The per-class numbers of a score block as a DataFrame (one row per class present)."""
    table = pd.DataFrame(block["per_class"]).T
    return table.astype({"support": int}) if len(table) else table
