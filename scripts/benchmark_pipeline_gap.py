"""What a real photo costs: FER2013 faces through detection and cropping, against direct input.

Each validation and test face is enlarged into a photo-like canvas
(:mod:`emotion_classification.evaluation.photo_pipeline`), MTCNN finds it, and the crop ``predict`` would
cut is classified. The framing (margin, alignment) is chosen on validation by the rule in
``reports/pipeline_gap_rule.txt``; the test folder is only measured. MTCNN results are cached
in ``outputs/pipeline_gap/`` so a rerun only classifies.

    FER2013_DIR=../shared/data/fer2013 python scripts/benchmark_pipeline_gap.py
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from emotion_classification.data.fer2013 import load_fer2013
from emotion_classification.evaluation.evaluate import load_validation
from emotion_classification.evaluation.photo_pipeline import (
    BORDER_FRACTION,
    CENTRE_TOLERANCE,
    UPSCALE,
    box_geometry,
    cached_detections,
    landmark_template,
    pipeline_crops,
    pipeline_margin_crops,
    planted_frame,
    template_crops,
)
from emotion_classification.inference.detection import DEFAULT_MARGINS, crop_margins
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.labels import CLASS_NAMES, DEFAULT_MODEL_PATH
from emotion_classification.training.provenance import record_measurement
from emotion_classification.utils.files import project_path, write_json
from emotion_classification.utils.hardware import hardware_description

MARGINS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.15)
#: The rule's second addendum: several margin squares of one detection, probabilities averaged.
MARGIN_AVERAGES = ((0.0, 0.05, 0.1), (0.0, 0.025, 0.05, 0.075), (0.0, 0.05, 0.1, 0.15),
                   (0.025, 0.075))
#: The margin predict used when the rule was fixed (the study's 10%): the rule's baseline.
BASELINE_MARGIN = 0.1
#: predict's single margin before the rule's second addendum.
PREVIOUS_DEFAULT = (0.05,)
ALIGNS = (False, True)
#: The rule's third addendum: each margin square also cut with the box moved by this fraction
#: of its larger side, probabilities of all views averaged.
SHIFT_FRACTION = 0.04
SHIFTED_MARGINS = (0.025, 0.075)
LEFT_RIGHT = ((0, 0), (-1, 0), (1, 0))
UP_DOWN = ((0, 0), (0, -1), (0, 1))
#: Name -> (margins, shifts in units of SHIFT_FRACTION).
SHIFTED_VIEWS = {"H": (SHIFTED_MARGINS, LEFT_RIGHT), "V": (SHIFTED_MARGINS, UP_DOWN),
                 "HV": (SHIFTED_MARGINS, LEFT_RIGHT + UP_DOWN[1:]),
                 "S5": ((0.0, 0.025, 0.05, 0.075, 0.1), ((0, 0),))}
#: Addenda 3 and 4: a framing that costs predict more classifier views than its default
#: replaces it only if it beats the default's validation pipeline accuracy by this much.
EXTRA_VIEWS_MIN_GAIN = 0.004
#: The single margin reports/framing_rule.txt judged candidate models by up to addendum 4
#: (--validation-only measures it beside predict's default framing, which addendum 5 uses).
CANDIDATE_MARGIN = 0.05
COMMAND = "FER2013_DIR=../shared/data/fer2013 python scripts/benchmark_pipeline_gap.py"


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Share of correct predictions (0 for an empty set)."""
    return float(np.mean(predicted == labels)) if len(labels) else 0.0


def framing_scores(recognizer, images, labels, faces, margins: tuple[float, ...],
                   align: bool) -> dict:
    """Pipeline accuracy on the detected faces and end to end, for one framing: the face cut
    at each of ``margins`` and the probabilities averaged, as the recognizer does."""
    found = np.array([face is not None for face in faces])
    crops_by_margin = list(pipeline_margin_crops(images, faces, margins, align))
    predicted = recognizer.classify_margins(crops_by_margin).argmax(axis=1)
    correct = int(np.sum(predicted == labels[found]))
    return {"margins": list(margins), "align": align,
            "pipeline_accuracy_detected": round(correct / max(1, found.sum()), 4),
            "pipeline_accuracy_all": round(correct / len(labels), 4)}


def shifted(faces: list, dx: int, dy: int) -> list:
    """The detections with each box moved by ``(dx, dy)`` steps of :data:`SHIFT_FRACTION` of
    its larger side."""
    moved = []
    for face in faces:
        if face is None:
            moved.append(None)
            continue
        x, y, w, h = face.box
        step = SHIFT_FRACTION * max(w, h)
        moved.append(dataclasses.replace(face, box=(round(x + dx * step), round(y + dy * step),
                                                    w, h)))
    return moved


def shifted_view_scores(recognizer, images, labels, faces, name: str) -> dict:
    """Pipeline accuracy of one addendum-3 candidate: every margin square at every shift,
    the probabilities of all views averaged."""
    margins, shifts = SHIFTED_VIEWS[name]
    found = np.array([face is not None for face in faces])
    crops_by_view = [pipeline_crops(images, shifted(faces, dx, dy), margin)
                     for margin in margins for dx, dy in shifts]
    predicted = recognizer.classify_margins(crops_by_view).argmax(axis=1)
    correct = int(np.sum(predicted == labels[found]))
    return {"name": name, "margins": list(margins), "shifts": [list(s) for s in shifts],
            "shift_fraction": SHIFT_FRACTION, "views": len(crops_by_view),
            "pipeline_accuracy_detected": round(correct / max(1, found.sum()), 4),
            "pipeline_accuracy_all": round(correct / len(labels), 4)}


def choose_shifted_views(rows: list[dict], default_accuracy: float) -> dict | None:
    """Addendum 3: the best candidate at least :data:`EXTRA_VIEWS_MIN_GAIN` above the
    current default on validation (a tie takes fewer views), or None."""
    qualified = [row for row in rows if row["pipeline_accuracy_detected"]
                 >= round(default_accuracy + EXTRA_VIEWS_MIN_GAIN, 4)]
    return min(qualified, key=lambda row: (-row["pipeline_accuracy_detected"], row["views"]),
               default=None)


def candidate_framings() -> list[tuple[tuple[float, ...], bool]]:
    """Every framing the rule compares: single margins, then margin averages, each with
    alignment off and on."""
    margin_sets = [(margin,) for margin in MARGINS] + list(MARGIN_AVERAGES)
    return [(margins, align) for align in ALIGNS for margins in margin_sets]


def framing_rank(row: dict) -> tuple:
    """Sort key of the rule: accuracy first; a tie takes fewer squares, no alignment, then
    smaller margins."""
    return (-row["pipeline_accuracy_detected"], len(row["margins"]), row["align"],
            row["margins"])


def direct_scores(recognizer, images, labels, faces) -> dict:
    """The classifier on the 48x48 images themselves: all of them and the detected ones."""
    found = np.array([face is not None for face in faces])
    predicted = recognizer.classify(images).argmax(axis=1)
    return {"images": len(labels), "detected": int(found.sum()),
            "detection_rate": round(float(found.mean()), 4),
            "direct_accuracy_all": round(accuracy(predicted, labels), 4),
            "direct_accuracy_detected": round(accuracy(predicted[found], labels[found]), 4)}


def template_scores(recognizer, images, labels, faces, fallback_margin: float) -> dict:
    """The addendum's candidate: crops whose landmarks are fitted to FER2013's mean layout."""
    template = landmark_template(faces, planted_frame())
    found = np.array([face is not None for face in faces])
    crops = template_crops(images, faces, template, fallback_margin)
    predicted = recognizer.classify(crops).argmax(axis=1)
    return {"template": np.round(template, 4).tolist(),
            "pipeline_accuracy_detected": round(accuracy(predicted, labels[found]), 4),
            "adopted": False}


def framing_row(rows: list[dict], margins: tuple[float, ...], align: bool) -> dict:
    """The row of one framing."""
    return next(row for row in rows if row["margins"] == list(margins) and row["align"] == align)


def choose_framing(validation_rows: list[dict]) -> dict:
    """The rule: best validation pipeline accuracy on detected faces, ties broken by
    :func:`framing_rank`."""
    return min(validation_rows, key=framing_rank)


def default_decision(chosen: dict, default_row: dict) -> dict:
    """Addendum 4: whether the validation choice would replace predict's default. A choice
    with more squares than the default must beat it by :data:`EXTRA_VIEWS_MIN_GAIN`; one no
    dearer must beat it at all."""
    gain = round(float(chosen["pipeline_accuracy_detected"]
                       - default_row["pipeline_accuracy_detected"]), 4)
    dearer = len(chosen["margins"]) > len(default_row["margins"])
    min_gain = EXTRA_VIEWS_MIN_GAIN if dearer else 0.0
    return {"rule": "addendum 4", "candidate": {"margins": chosen["margins"],
                                                 "align": chosen["align"]},
            "gain": gain, "min_gain": min_gain, "adopted": gain > 0 and gain >= min_gain}


def geometry_summary(faces) -> dict:
    """Median and spread of MTCNN's box relative to FER2013's frame."""
    geometry = box_geometry(faces, planted_frame())
    names = ("centre_dx", "centre_dy", "width", "height")
    return {name: {"median": round(float(np.median(geometry[:, i])), 4),
                   "iqr": round(float(np.subtract(*np.percentile(geometry[:, i], [75, 25]))), 4)}
            for i, name in enumerate(names)}


def gaps(direct: dict, row: dict) -> dict:
    """Points lost to framing (same faces) and end to end (misses counted wrong)."""
    return {"framing_gap_points": round(100 * (direct["direct_accuracy_detected"]
                                               - row["pipeline_accuracy_detected"]), 2),
            "end_to_end_gap_points": round(100 * (direct["direct_accuracy_all"]
                                                  - row["pipeline_accuracy_all"]), 2)}


def flip_comparison(model: str, test, test_faces, framing: dict) -> dict:
    """One framing's gap with flip test-time augmentation on both sides."""
    flipped = EmotionRecognizer(model, tta="flip")
    direct = direct_scores(flipped, test.images, test.labels, test_faces)
    scores = framing_scores(flipped, test.images, test.labels, test_faces,
                            tuple(framing["margins"]), framing["align"])
    return {**scores, **gaps(direct, scores), "tta": "flip",
            "direct_accuracy_detected": direct["direct_accuracy_detected"]}


def report_validation(recognizer, validation, val_faces, validation_rows, args) -> int:
    """The validation block alone, for choosing between candidate models."""
    report = {"model": args.model, "rule": "reports/framing_rule.txt",
              "validation": {**direct_scores(recognizer, validation.images, validation.labels,
                                             val_faces), "framings": validation_rows}}
    write_json(project_path(args.out), report)
    for row in validation_rows:
        print(f"validation margins {row['margins']} align {row['align']}: pipeline accuracy "
              f"on detected faces {row['pipeline_accuracy_detected']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL_PATH), help="Model to measure.")
    parser.add_argument("--out", default="reports/benchmarks/pipeline_gap.json",
                        help="Where the JSON report goes.")
    parser.add_argument("--validation-only", action=argparse.BooleanOptionalAction,
                        default=False, help="Measure the validation faces only (choosing a "
                        "candidate model: the test folder is not read) (default: "
                        "--no-validation-only)")
    args = parser.parse_args(argv)
    started_s = time.time()
    recognizer = EmotionRecognizer(args.model)
    record = recognizer.record
    validation = load_validation(None, record)
    val_faces = cached_detections("validation", validation.images, recognizer.detector)
    if args.validation_only:
        validation_rows = [framing_scores(recognizer, validation.images, validation.labels,
                                          val_faces, margins, False)
                           for margins in ((CANDIDATE_MARGIN,), crop_margins(DEFAULT_MARGINS))]
        return report_validation(recognizer, validation, val_faces, validation_rows, args)
    validation_rows = [framing_scores(recognizer, validation.images, validation.labels,
                                      val_faces, margins, align)
                       for margins, align in candidate_framings()]
    default_row = framing_row(validation_rows, tuple(crop_margins(DEFAULT_MARGINS)), False)
    shifted_rows = [shifted_view_scores(recognizer, validation.images, validation.labels,
                                        val_faces, name) for name in SHIFTED_VIEWS]
    shifted_choice = choose_shifted_views(shifted_rows, default_row["pipeline_accuracy_detected"])
    test = load_fer2013(None, splits=("test",))["test"]
    test_faces = cached_detections("test", test.images, recognizer.detector)
    chosen = choose_framing(validation_rows)
    template = template_scores(recognizer, validation.images, validation.labels, val_faces,
                               chosen["margins"][0])
    template["adopted"] = False  # addendum 1's candidate, replaced by addendum 2's choice
    framings = {"study_margin": framing_row(validation_rows, (BASELINE_MARGIN,), False),
                "previous_default": framing_row(validation_rows, PREVIOUS_DEFAULT, False),
                "predict_default": default_row}
    if chosen is not default_row:
        framings["chosen"] = chosen
    direct_test = direct_scores(recognizer, test.images, test.labels, test_faces)
    test_rows = {}
    for label, row in framings.items():
        scores = framing_scores(recognizer, test.images, test.labels, test_faces,
                                tuple(row["margins"]), row["align"])
        test_rows[label] = {**scores, **gaps(direct_test, scores)}
    test_rows["predict_default_with_flip"] = flip_comparison(args.model, test, test_faces,
                                                             default_row)
    report = {
        "what": "FER2013 faces enlarged into photo-like canvases, detected by MTCNN, cropped "
                "and classified as predict does, against the classifier on the 48x48 images",
        "model": args.model, "rule": "reports/pipeline_gap_rule.txt",
        "embedding": {"upscale": UPSCALE, "border_fraction": BORDER_FRACTION,
                      "border": "edge pixels repeated", "centre_tolerance": CENTRE_TOLERANCE},
        "class_names": list(CLASS_NAMES),
        "validation": {**direct_scores(recognizer, validation.images, validation.labels,
                                       val_faces), "framings": validation_rows,
                       "template_framing": template,
                       "shifted_views": {"rule": "addendum 3", "candidates": shifted_rows,
                                         "min_gain": EXTRA_VIEWS_MIN_GAIN,
                                         "adopted": shifted_choice},
                       "box_vs_frame": geometry_summary(val_faces)},
        "chosen_on_validation": {"margins": chosen["margins"], "align": chosen["align"]},
        "predict_default": {"margins": list(crop_margins(DEFAULT_MARGINS)), "align": False},
        "default_decision": default_decision(chosen, default_row),
        "test": {**direct_test, **test_rows},
        "command": COMMAND, "hardware": hardware_description(),
        "run_time_s": round(time.time() - started_s, 1),
    }
    write_json(project_path(args.out), report)
    record_measurement(project_path(args.out), project_path(args.model), project_path("."))
    print(f"chosen on validation: margins {chosen['margins']}, align {chosen['align']}; "
          f"replaces predict's default (addendum 4): {report['default_decision']['adopted']}")
    for label, row in test_rows.items():
        print(f"test {label}: framing gap {row['framing_gap_points']} points, end to end "
              f"{row['end_to_end_gap_points']} (detection rate {direct_test['detection_rate']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
