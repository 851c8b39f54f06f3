"""Evaluation: honest test numbers, calibration and test-time augmentation for a saved model.

``python -m emotion_classification evaluate`` loads the committed model (or ``--model``),
fits temperature scaling and the 'uncertain' threshold on the validation split carved from
the train folder (never on test), then measures on the full test folder and on its
PublicTest and PrivateTest halves, with and without flip test-time augmentation. It writes
a JSON report and the figures under ``outputs/evaluation/`` (beside the model for a model
outside ``models/``) and stores calibration and test metrics in the JSON record of a model
outside ``models/``: the shipped files change only through ``promote``.
``--data DIR`` evaluates another labelled dataset instead (see :mod:`.cross_dataset`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from emotion_classification.data.fer2013 import (
    Split,
    load_fer2013,
    small_subset,
    split_test,
    train_val_split,
)
from emotion_classification.inference.calibration import (
    TARGET_CONFIDENT_ACCURACY,
    apply_temperature,
    choose_uncertain_threshold,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    uncertain_split_accuracy,
)
from emotion_classification.labels import CLASS_NAMES


def metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, macro-F1 (over the classes present) and per-class precision/recall/F1/support."""
    predicted = probs.argmax(axis=1)
    report = classification_report(labels, predicted, labels=range(len(CLASS_NAMES)),
                                   target_names=CLASS_NAMES, output_dict=True, zero_division=0)
    per_class = {name: {k: round(float(report[name][k]), 4)
                        for k in ("precision", "recall", "f1-score", "support")}
                 for name in CLASS_NAMES}
    return {"n": int(len(labels)), "accuracy": round(float(np.mean(predicted == labels)), 4),
            "macro_f1": round(float(f1_score(labels, predicted, average="macro",
                                             labels=np.unique(labels), zero_division=0)), 4),
            "per_class": per_class}


def per_class_table(result: dict) -> pd.DataFrame:
    """The per-class precision/recall/F1 of a :func:`metrics` result as a DataFrame."""
    table = pd.DataFrame(result["per_class"]).T
    table["support"] = table["support"].astype(int)
    return table


def most_confused_pairs(labels: np.ndarray, probs: np.ndarray, top: int = 5) -> list[dict]:
    """The off-diagonal confusion cells with the most faces, as true -> predicted pairs."""
    matrix = confusion_matrix(labels, probs.argmax(axis=1), labels=range(len(CLASS_NAMES)))
    np.fill_diagonal(matrix, 0)
    order = np.argsort(matrix, axis=None)[::-1][:top]
    rows = matrix.sum(axis=1, keepdims=True)
    return [{"true": CLASS_NAMES[i], "predicted": CLASS_NAMES[j], "count": int(matrix[i, j]),
             "share_of_true_class": round(float(matrix[i, j] / max(1, rows[i, 0])), 4)}
            for i, j in zip(*np.unravel_index(order, matrix.shape), strict=True)]


def load_validation(data_dir, record: dict, small_per_class: int = 0) -> Split:
    """The validation split exactly as training carved it from the FER2013 train folder."""
    config = record.get("config", {})
    train = load_fer2013(data_dir, splits=("train",))["train"]
    _, val = train_val_split(train, config.get("val_fraction", 0.1), config.get("seed", 42))
    return small_subset(val, small_per_class) if small_per_class else val


def evaluation_splits(test: Split) -> dict[str, Split]:
    """The whole evaluated set plus the PublicTest/PrivateTest halves that have images (a
    dataset without those file-name prefixes is evaluated as one split)."""
    halves = {f"{name}_test": half for name, half in split_test(test).items() if len(half)}
    return {"test": test, **halves}


def absent_classes(labels: np.ndarray) -> list[str]:
    """Classes with no image in the evaluated set (their recall is undefined, not zero)."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    return [name for name, count in zip(CLASS_NAMES, counts, strict=True) if count == 0]


#: Where promote puts the shipped model's report and figures (the README shows them).
COMMITTED_REPORT = "reports/evaluation.json"
COMMITTED_FIGURE_DIR = "reports/figures"
#: Where ``evaluate`` writes a shipped model's report and figures: ``<this>/<stem>/``.
EVALUATION_OUTPUT_DIR = "outputs/evaluation"
REPORT_NAME = "evaluation.json"
FIGURE_FOLDER_NAME = "figures"
#: ``figure_dir``/``report_path`` value meaning "where :func:`default_outputs` says".
BESIDE_MODEL = "beside the model"


def model_file(model_path: str | Path | None) -> Path:
    """The file a model argument names: none means the default, an alias its file, a
    relative path is taken from the project root (whether it exists is not checked)."""
    from emotion_classification.labels import DEFAULT_MODEL_PATH, MODEL_ALIASES
    from emotion_classification.utils.files import project_path

    name = model_path or DEFAULT_MODEL_PATH
    return project_path(MODEL_ALIASES.get(name, name) if isinstance(name, str) else name)


def is_shipped_model(model_path: str | Path | None) -> bool:
    """True for a model in the project's ``models/`` folder (the default or an alias's
    file): only ``promote`` writes there, so nothing else updates its record."""
    from emotion_classification.labels import DEFAULT_MODEL_PATH
    from emotion_classification.utils.files import project_path

    shipped_dir = project_path(DEFAULT_MODEL_PATH).parent.resolve()
    return model_file(model_path).resolve().parent == shipped_dir


def default_outputs(model_path: str | Path | None) -> tuple[Path, Path]:
    """Where ``evaluate`` writes its figures and report unless told.

    A shipped model (in ``models/``) is evaluated into ``outputs/evaluation/<stem>/``, so
    the committed ``reports/`` stays as ``promote`` wrote it; any other model's report and
    figures go beside it (``<stem>.evaluation.json`` and ``<stem>.figures/``, a run's in its
    run folder), so two models never overwrite each other's."""
    from emotion_classification.utils.files import project_path

    model = model_file(model_path)
    if is_shipped_model(model_path):
        folder = project_path(EVALUATION_OUTPUT_DIR) / model.stem
        return folder / FIGURE_FOLDER_NAME, folder / REPORT_NAME
    return model.with_suffix(".figures"), model.with_suffix(".evaluation.json")


def notebook_outputs(model_path: str | None, figure_dir: str | None = None,
                     report_path: str | None = None,
                     small: bool = False) -> tuple[Path, Path | None]:
    """Where notebook 04 writes its figures and report: the paths it is given, else
    :func:`default_outputs` (never ``reports/``). In small-data mode the report is not
    written and the figures, which the notebook shows, go to a temporary folder unless
    ``figure_dir`` is given."""
    import tempfile

    from emotion_classification.utils.files import project_path

    default_figures, default_report = default_outputs(model_path)
    if figure_dir:
        figures = project_path(figure_dir)
    elif small:
        figures = Path(tempfile.mkdtemp(prefix="figures-small-"))
    else:
        figures = default_figures
    report = None if small else (project_path(report_path) if report_path else default_report)
    return figures, report


#: The test-time augmentations ``evaluate --tta`` measures beside the plain predictions.
TTA_MEASURED = {"none": (), "flip": ("flip",), "ten_crop": ("flip", "ten_crop")}
#: The report's entry for each (flip keeps its original name, ``tta``).
TTA_REPORT_KEYS = {"flip": "tta", "ten_crop": "tta_ten_crop"}


def evaluate(model_path: str | None = None, data_dir: str | None = None, *,
             small_per_class: int = 0, figure_dir: str | Path | None = BESIDE_MODEL,
             report_path: str | Path | None = BESIDE_MODEL,
             update_model_json: bool | None = None, seed: int = 0,
             tta: str = "flip") -> dict:
    """Evaluate a model end to end; return the report (also written to ``report_path``).

    ``tta`` names the test-time augmentation measured beside the plain predictions (see
    :data:`TTA_MEASURED`), on validation and test alike, so a choice between them can be
    made on validation.

    ``figure_dir`` and ``report_path`` left at ``BESIDE_MODEL`` follow ``default_outputs``,
    except in small-data mode, whose subset numbers are written nowhere unless a path is
    given; ``None`` writes nothing. ``update_model_json`` stores the calibration and test
    metrics in the model's JSON record; ``None`` means yes, except for a shipped model in
    ``models/`` (see :func:`is_shipped_model`), which only ``promote`` updates.

    The returned report also says where it went: ``report_path``, ``figure_dir`` and
    ``model_record`` (absolute paths, present only for what was written).
    """
    from emotion_classification.models.runtimes import load_model_and_record, predict_probs
    from emotion_classification.utils.files import project_path, write_json

    model, record = load_model_and_record(model_path)
    test = load_fer2013(data_dir, splits=("test",))["test"]
    if small_per_class:
        test = small_subset(test, small_per_class)
    val = load_validation(data_dir, record, small_per_class)
    report = {"model": str(model_path or "models/emotion_cnn.keras"),
              "data": "FER2013 test folder",
              "small_per_class": small_per_class, "splits": {},
              **{TTA_REPORT_KEYS[mode]: {} for mode in TTA_MEASURED[tta]},
              "absent_classes": absent_classes(test.labels)}
    val_probs = predict_probs(model, val.images)
    temperature = fit_temperature(val_probs, val.labels)
    val_calibrated = apply_temperature(val_probs, temperature)
    threshold = choose_uncertain_threshold(val_calibrated, val.labels)
    report["validation"] = {**metrics(val.labels, val_probs), "n": len(val)}
    probs = {False: predict_probs(model, test.images)}
    for mode in TTA_MEASURED[tta]:
        probs[mode] = predict_probs(model, test.images, tta=mode)
        report["validation"][f"accuracy_tta_{mode}"] = metrics(
            val.labels, predict_probs(model, val.images, tta=mode))["accuracy"]
    for name, split in evaluation_splits(test).items():
        index = np.isin(test.names, split.names)
        report["splits"][name] = metrics(split.labels, probs[False][index])
        for mode in TTA_MEASURED[tta]:
            report[TTA_REPORT_KEYS[mode]][name] = metrics(split.labels, probs[mode][index])
    calibrated = apply_temperature(probs[False], temperature)
    report["calibration"] = {
        "temperature": round(temperature, 4), "uncertain_threshold": threshold,
        "target_confident_accuracy": TARGET_CONFIDENT_ACCURACY,
        "fitted_on": "validation split of the train folder",
        "ece_test_before": round(expected_calibration_error(probs[False], test.labels), 4),
        "ece_test_after": round(expected_calibration_error(calibrated, test.labels), 4),
        "test_rule": uncertain_split_accuracy(calibrated, test.labels, threshold),
        "validation_rule": uncertain_split_accuracy(val_calibrated, val.labels, threshold)}
    report["most_confused"] = most_confused_pairs(test.labels, probs[False])
    if small_per_class:
        default_figure_dir = default_report = None
    else:
        default_figure_dir, default_report = default_outputs(model_path)
    figure_dir = default_figure_dir if figure_dir == BESIDE_MODEL else figure_dir
    report_path = default_report if report_path == BESIDE_MODEL else report_path
    if update_model_json is None:
        update_model_json = not is_shipped_model(model_path)
    written = {}
    if figure_dir is not None:
        written["figure_dir"] = project_path(figure_dir)
        write_figures(written["figure_dir"], test, probs[False], calibrated, seed)
    if report_path is not None:
        written["report_path"] = project_path(report_path)
        write_json(written["report_path"], report)
    if update_model_json and not small_per_class:
        written["model_record"] = store_in_model_record(model_path, record, report)
    return {**report, **{key: str(path) for key, path in written.items()}}


def write_figures(figure_dir: Path, test: Split, probs: np.ndarray, calibrated: np.ndarray,
                  seed: int) -> None:
    """Confusion matrix, galleries and reliability diagram into ``figure_dir``."""
    from emotion_classification.utils import plots

    plots.plot_confusion_matrices(test.labels, probs.argmax(1), figure_dir / "confusion_matrix.png")
    plots.plot_prediction_gallery(test.images, test.labels, probs, figure_dir / "test_gallery.png",
                                  seed=seed)
    plots.plot_confident_mistakes(test.images, test.labels, probs,
                                  figure_dir / "confident_mistakes.png")
    plots.plot_reliability(reliability_bins(probs, test.labels),
                           reliability_bins(calibrated, test.labels),
                           figure_dir / "reliability.png")


def store_in_model_record(model_path: str | Path | None, record: dict, report: dict) -> Path:
    """Put calibration and test metrics into the model's JSON (atomically) and return its
    path; ``model_path`` is resolved as
    :func:`~emotion_classification.models.runtimes.load_model_and_record` does."""
    from emotion_classification.utils.files import write_json

    path = model_file(model_path)
    record = dict(record)
    record["calibration"] = {k: report["calibration"][k] for k in (
        "temperature", "uncertain_threshold", "target_confident_accuracy", "fitted_on",
        "ece_test_before", "ece_test_after")}
    summary = {name: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                      "disgust_recall": m["per_class"]["disgust"]["recall"], "n": m["n"]}
               for name, m in report["splits"].items()}
    record["test_metrics"] = summary
    for mode, key in TTA_REPORT_KEYS.items():  # a TTA not measured keeps its stored numbers
        if key in report:
            record[f"test_metrics_tta_{mode}"] = {
                name: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
                for name, m in report[key].items()}
    record["validation"] = {**record.get("validation", {}),
                            "accuracy": report["validation"]["accuracy"],
                            "macro_f1": report["validation"]["macro_f1"]}
    write_json(path.with_suffix(".json"), record)
    return path.with_suffix(".json")


def summary_table(report: dict) -> pd.DataFrame:
    """One row per split: n, accuracy, macro-F1, disgust recall, and accuracy with each
    test-time augmentation measured."""
    rows = {name: {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                   "disgust_recall": m["per_class"]["disgust"]["recall"],
                   **{f"accuracy_tta_{mode}": report[key][name]["accuracy"]
                      for mode, key in TTA_REPORT_KEYS.items() if key in report}}
            for name, m in report["splits"].items()}
    return pd.DataFrame(rows).T
