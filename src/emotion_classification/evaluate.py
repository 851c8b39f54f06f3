"""Evaluation: honest test numbers, calibration and test-time augmentation for a saved model.

``python -m emotion_classification evaluate`` loads the committed model (or ``--model``),
fits temperature scaling and the 'uncertain' threshold on the validation split carved from
the train folder (never on test), then measures on the full test folder and on its
PublicTest and PrivateTest halves, with and without flip test-time augmentation. It writes
a JSON report, the figures, and stores calibration and test metrics in the model's JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from emotion_classification.calibration import EPSILON, apply_temperature, is_uncertain
from emotion_classification.data import (
    CLASS_NAMES,
    DatasetNotFoundError,
    Split,
    load_fer2013,
    small_subset,
    split_test,
    train_val_split,
)

ECE_BINS = 15
#: The uncertain threshold is the lowest calibrated top probability at which the faces at
#: or above it are right at least this often on validation.
TARGET_CONFIDENT_ACCURACY = 0.80
TEMPERATURE_RANGE = (0.05, 20.0)


def metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support."""
    predicted = probs.argmax(axis=1)
    report = classification_report(labels, predicted, labels=range(len(CLASS_NAMES)),
                                   target_names=CLASS_NAMES, output_dict=True, zero_division=0)
    per_class = {name: {k: round(float(report[name][k]), 4)
                        for k in ("precision", "recall", "f1-score", "support")}
                 for name in CLASS_NAMES}
    return {"n": int(len(labels)), "accuracy": round(float(np.mean(predicted == labels)), 4),
            "macro_f1": round(float(f1_score(labels, predicted, average="macro",
                                             labels=range(len(CLASS_NAMES)), zero_division=0)), 4),
            "per_class": per_class}


def per_class_table(result: dict) -> pd.DataFrame:
    """The per-class precision/recall/F1 of a :func:`metrics` result as a DataFrame."""
    table = pd.DataFrame(result["per_class"]).T
    table["support"] = table["support"].astype(int)
    return table


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], EPSILON, 1))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising validation NLL (searched on a log scale)."""
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probs, float(np.exp(log_t))),
                                              labels),
        bounds=tuple(np.log(TEMPERATURE_RANGE)), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """ECE: bin faces by top probability; weighted mean |accuracy - confidence| per bin."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> pd.DataFrame:
    """Per-bin confidence, accuracy and count, for the reliability diagram."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows = [{"bin_low": edges[b], "bin_high": edges[b + 1], "count": int((which == b).sum()),
             "confidence": float(confidence[which == b].mean()) if (which == b).any() else np.nan,
             "accuracy": float(correct[which == b].mean()) if (which == b).any() else np.nan}
            for b in range(bins)]
    return pd.DataFrame(rows)


def choose_uncertain_threshold(probs: np.ndarray, labels: np.ndarray,
                               target: float = TARGET_CONFIDENT_ACCURACY) -> float:
    """Lowest top-probability threshold whose confident faces reach ``target`` accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    for threshold in np.round(np.arange(0.0, 1.0, 0.01), 2):
        kept = confidence >= threshold
        if kept.sum() >= 20 and correct[kept].mean() >= target:
            return float(threshold)
    return 1.0


def uncertain_split_accuracy(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """Accuracy and share of the confident and the uncertain faces under the rule."""
    uncertain = is_uncertain(probs, threshold)
    correct = probs.argmax(axis=1) == labels

    def part(mask):
        return {"n": int(mask.sum()), "share": round(float(mask.mean()), 4),
                "accuracy": round(float(correct[mask].mean()), 4) if mask.any() else None}

    return {"threshold": threshold, "confident": part(~uncertain), "uncertain": part(uncertain)}


def most_confused_pairs(labels: np.ndarray, probs: np.ndarray, top: int = 5) -> list[dict]:
    """The off-diagonal confusion cells with the most faces, as true -> predicted pairs."""
    matrix = confusion_matrix(labels, probs.argmax(axis=1), labels=range(len(CLASS_NAMES)))
    np.fill_diagonal(matrix, 0)
    order = np.argsort(matrix, axis=None)[::-1][:top]
    rows = matrix.sum(axis=1, keepdims=True)
    return [{"true": CLASS_NAMES[i], "predicted": CLASS_NAMES[j], "count": int(matrix[i, j]),
             "share_of_true_class": round(float(matrix[i, j] / max(1, rows[i, 0])), 4)}
            for i, j in zip(*np.unravel_index(order, matrix.shape), strict=True)]


def load_eval_data(data_dir, record: dict, small_per_class: int = 0) -> tuple[Split, Split]:
    """The validation split (as training carved it) and the test folder."""
    loaded = load_fer2013(data_dir)
    config = record.get("config", {})
    _, val = train_val_split(loaded["train"], config.get("val_fraction", 0.1),
                             config.get("seed", 42))
    test = loaded["test"]
    if small_per_class:
        val, test = small_subset(val, small_per_class), small_subset(test, small_per_class)
    return val, test


COMMITTED_REPORT = "reports/evaluation.json"
COMMITTED_FIGURE_DIR = "reports/figures"


def default_outputs(model_path: str | None) -> tuple[Path, Path]:
    """Where ``evaluate`` writes its figures and report unless told: ``reports/`` for the
    committed model (the README shows them), beside any other model (``<stem>.figures/`` and
    ``<stem>.evaluation.json`` in its folder), so evaluating a new run does not overwrite the
    committed figures, nor two models in one folder each other's."""
    from emotion_classification.files import project_path
    from emotion_classification.models import DEFAULT_MODEL_PATH

    model = project_path(model_path or DEFAULT_MODEL_PATH)
    if model.resolve() == project_path(DEFAULT_MODEL_PATH).resolve():
        return project_path(COMMITTED_FIGURE_DIR), project_path(COMMITTED_REPORT)
    return model.with_suffix(".figures"), model.with_suffix(".evaluation.json")


BESIDE_MODEL = "beside the model"


def notebook_outputs(model_path: str | None, figure_dir: str | None = None,
                     report_path: str | None = None,
                     small: bool = False) -> tuple[Path, Path | None]:
    """Where notebook 04 writes its figures and report: the paths it is given, else
    :func:`default_outputs` (``reports/`` only for the committed model). In small-data mode
    the report is not written and the figures, which the notebook shows, go to a temporary
    folder unless ``figure_dir`` is given: a subset never replaces the README's figures."""
    import tempfile

    from emotion_classification.files import project_path

    default_figures, default_report = default_outputs(model_path)
    if figure_dir:
        figures = project_path(figure_dir)
    elif small:
        figures = Path(tempfile.mkdtemp(prefix="figures-small-"))
    else:
        figures = default_figures
    report = None if small else (project_path(report_path) if report_path else default_report)
    return figures, report


def evaluate(model_path: str | None = None, data_dir: str | None = None, *,
             small_per_class: int = 0, figure_dir: str | Path | None = BESIDE_MODEL,
             report_path: str | Path | None = BESIDE_MODEL,
             update_model_json: bool = True, seed: int = 0) -> dict:
    """Evaluate a model end to end; return the report (also written to ``report_path``).

    ``figure_dir`` and ``report_path`` left at ``BESIDE_MODEL`` follow ``default_outputs``,
    except in small-data mode, whose subset numbers are written nowhere unless a path is
    given; ``None`` writes nothing.
    """
    from emotion_classification.files import project_path, write_json
    from emotion_classification.models import load_model_and_record, predict_proba

    model, record = load_model_and_record(model_path)
    val, test = load_eval_data(data_dir, record, small_per_class)
    val_probs = predict_proba(model, val.images)
    temperature = fit_temperature(val_probs, val.labels)
    val_calibrated = apply_temperature(val_probs, temperature)
    threshold = choose_uncertain_threshold(val_calibrated, val.labels)

    halves = {"test": test, **{f"{k}_test": v for k, v in split_test(test).items()}}
    probs = {False: predict_proba(model, test.images),
             True: predict_proba(model, test.images, tta=True)}
    report = {"model": str(model_path or "models/emotion_cnn.keras"),
              "small_per_class": small_per_class,
              "validation": {**metrics(val.labels, val_probs), "n": len(val)},
              "splits": {}, "tta": {}}
    for name, split in halves.items():
        index = np.isin(test.names, split.names)
        report["splits"][name] = metrics(split.labels, probs[False][index])
        report["tta"][name] = metrics(split.labels, probs[True][index])
    calibrated = apply_temperature(probs[False], temperature)
    report["calibration"] = {
        "temperature": round(temperature, 4), "uncertain_threshold": threshold,
        "target_confident_accuracy": TARGET_CONFIDENT_ACCURACY,
        "fitted_on": "validation split of the train folder",
        "ece_test_before": round(expected_calibration_error(probs[False], test.labels), 4),
        "ece_test_after": round(expected_calibration_error(calibrated, test.labels), 4),
        "validation_rule": uncertain_split_accuracy(val_calibrated, val.labels, threshold),
        "test_rule": uncertain_split_accuracy(calibrated, test.labels, threshold)}
    report["most_confused"] = most_confused_pairs(test.labels, probs[False])
    if small_per_class:
        default_figure_dir = default_report = None
    else:
        default_figure_dir, default_report = default_outputs(model_path)
    figure_dir = default_figure_dir if figure_dir == BESIDE_MODEL else figure_dir
    report_path = default_report if report_path == BESIDE_MODEL else report_path
    if figure_dir is not None:
        write_figures(project_path(figure_dir), test, probs[False], calibrated, seed)
    if report_path is not None:
        write_json(project_path(report_path), report)
    if update_model_json and not small_per_class:
        store_in_model_record(model_path, record, report)
    return report


def write_figures(figure_dir: Path, test: Split, probs: np.ndarray, calibrated: np.ndarray,
                  seed: int) -> None:
    """Confusion matrix, galleries and reliability diagram into ``figure_dir``."""
    from emotion_classification import plots

    plots.plot_confusion_matrices(test.labels, probs.argmax(1), figure_dir / "confusion_matrix.png")
    plots.plot_prediction_gallery(test.images, test.labels, probs, figure_dir / "test_gallery.png",
                                  seed=seed)
    plots.plot_confident_mistakes(test.images, test.labels, probs,
                                  figure_dir / "confident_mistakes.png")
    plots.plot_reliability(reliability_bins(probs, test.labels),
                           reliability_bins(calibrated, test.labels),
                           figure_dir / "reliability.png")


def store_in_model_record(model_path: str | None, record: dict, report: dict) -> None:
    """Put calibration and test metrics into the model's JSON (atomically); ``model_path``
    is resolved as :func:`~emotion_classification.models.load_model_and_record` does."""
    from emotion_classification.files import project_path, write_json
    from emotion_classification.models import DEFAULT_MODEL_PATH

    path = project_path(model_path or DEFAULT_MODEL_PATH)
    record = dict(record)
    record["calibration"] = {k: report["calibration"][k] for k in (
        "temperature", "uncertain_threshold", "target_confident_accuracy", "fitted_on",
        "ece_test_before", "ece_test_after")}
    summary = {name: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                      "disgust_recall": m["per_class"]["disgust"]["recall"], "n": m["n"]}
               for name, m in report["splits"].items()}
    record["test_metrics"] = summary
    record["test_metrics_tta_flip"] = {name: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
                                       for name, m in report["tta"].items()}
    record["validation"] = {**record.get("validation", {}),
                            "accuracy": report["validation"]["accuracy"],
                            "macro_f1": report["validation"]["macro_f1"]}
    write_json(path.with_suffix(".json"), record)


def summary_table(report: dict) -> pd.DataFrame:
    """One row per split: n, accuracy, macro-F1, disgust recall, and accuracy with flip TTA."""
    rows = {name: {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                   "disgust_recall": m["per_class"]["disgust"]["recall"],
                   "accuracy_tta_flip": report["tta"][name]["accuracy"]}
            for name, m in report["splits"].items()}
    return pd.DataFrame(rows).T


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emotion_classification evaluate",
                                     description="Evaluate a model on the FER2013 test folder.")
    parser.add_argument("--model", default=None, help="default: models/emotion_cnn.keras")
    parser.add_argument("--data-dir", default=None, help="default: $FER2013_DIR or data/fer2013")
    parser.add_argument("--figure-dir", default=BESIDE_MODEL,
                        help=f"default: {COMMITTED_FIGURE_DIR} for the committed model, else "
                             "<stem>.figures/ beside the model; none in small-data mode")
    parser.add_argument("--report", default=BESIDE_MODEL,
                        help=f"default: {COMMITTED_REPORT} for the committed model, else "
                             "<stem>.evaluation.json beside it; none in small-data mode")
    parser.add_argument("--small-per-class", type=int, default=0,
                        help="evaluate on a few images per class (quick check)")
    parser.add_argument("--no-update-model", action="store_true",
                        help="do not store calibration and metrics in the model's JSON")
    args = parser.parse_args(argv)
    from emotion_classification.models import ModelFileError

    try:
        report = evaluate(args.model, args.data_dir, small_per_class=args.small_per_class,
                          figure_dir=args.figure_dir, report_path=args.report,
                          update_model_json=not args.no_update_model)
    except (DatasetNotFoundError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summary_table(report).to_string())
    print(per_class_table(report["splits"]["test"]).to_string())
    print(json.dumps(report["calibration"], indent=2))
    print("most confused:", ", ".join(f"{p['true']}->{p['predicted']} ({p['count']})"
                                      for p in report["most_confused"]))
    return 0
