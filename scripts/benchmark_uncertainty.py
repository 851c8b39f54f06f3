"""What the "unsure" flags mean: MTCNN's confidence on real faces against false detections, and
the classifier's flag against what its calibration promises, by reports/uncertainty_rule.txt.

    FER2013_DIR=data/fer2013 EMOTION_SHARED_DIR=../shared python scripts/benchmark_uncertainty.py

True faces: FER2013 validation faces planted in photos (the photo-pipeline benchmark's canvas),
the faces of matplotlib's sample portrait and of the study's group photo, and woman2.mp4's face
in every 15th frame. False detections: every reported detection on face-free images that ship
with the dependencies or the shared folder, at three scales. The test folder is never read.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from emotion_classification.evaluation.evaluate import load_validation
from emotion_classification.evaluation.photo_pipeline import (
    cached_detections,
    pipeline_margin_crops,
)
from emotion_classification.inference.images import read_image, sample_photo
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.labels import DEFAULT_MODEL_PATH
from emotion_classification.training.provenance import record_measurement
from emotion_classification.utils.files import project_path, write_json
from emotion_classification.utils.hardware import hardware_description

STUDY_CONFIDENT_DETECTION = 0.99
#: The rule's grid of candidate thresholds, its false-positive rate and the fewest false
#: detections that can set a threshold at all.
THRESHOLD_GRID = np.round(np.arange(0.900, 1.0, 0.001), 3)
FALSE_POSITIVE_RATE = 0.05
MIN_FALSE_DETECTIONS = 20
PROMISED_CONFIDENT_ACCURACY = 0.80
VIDEO_FRAME_STEP = 15
FACE_FREE_SCALES = (0.5, 1.0, 2.0)
COMMAND = ("FER2013_DIR=data/fer2013 EMOTION_SHARED_DIR=../shared "
           "python scripts/benchmark_uncertainty.py")


def face_free_images(shared_dir: Path) -> dict[str, Path]:
    """The face-free images of the rule: shipped with scikit-learn, matplotlib or the shared
    folder."""
    from sklearn.datasets import load_sample_images

    samples = Path(matplotlib.get_data_path()) / "sample_data"
    paths = {Path(name).name: Path(name) for name in load_sample_images().filenames}
    for name in ("Minduka_Present_Blue_Pack.png", "logo2.png"):
        paths[name] = samples / name
    paths["no-faces.jpg"] = shared_dir / "data/photos/no-faces.jpg"
    return paths


def resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def false_detections(detector, shared_dir: Path) -> list[dict]:
    """Every reported detection on the face-free images, at each scale."""
    found = []
    for name, path in face_free_images(shared_dir).items():
        rgb = read_image(path)
        for scale in FACE_FREE_SCALES:
            found += [{"image": name, "scale": scale, "confidence": round(face.confidence, 5)}
                      for face in detector.detect(resized(rgb, scale))]
    return found


def photo_confidences(detector, shared_dir: Path) -> dict[str, list[float]]:
    """Set b: every reported face of the sample portrait and of the group photo."""
    photos = {"grace_hopper.jpg": sample_photo(), "people.jpg": shared_dir / "data/photos/people.jpg"}
    return {name: [face.confidence for face in detector.detect(read_image(path))]
            for name, path in photos.items()}


def video_confidences(detector, video: Path) -> list[float]:
    """Set c: the most confident reported face in every 15th frame of the video."""
    capture = cv2.VideoCapture(str(video))
    found, index = [], 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % VIDEO_FRAME_STEP == 0:
                faces = detector.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                if faces:
                    found.append(max(face.confidence for face in faces))
            index += 1
    finally:
        capture.release()
    return found


def below(values, threshold: float) -> float:
    """Share of ``values`` under ``threshold`` (0 for none)."""
    values = np.asarray(values, dtype=np.float64)
    return round(float(np.mean(values < threshold)), 4) if len(values) else 0.0


def detector_threshold(false_confidences: list[float]) -> float | None:
    """The rule: the smallest grid value leaving at most 5% of false detections above it, or
    None when there are too few false detections to set any threshold."""
    if len(false_confidences) < MIN_FALSE_DETECTIONS:
        return None
    values = np.asarray(false_confidences)
    return float(next(t for t in THRESHOLD_GRID if np.mean(values >= t) <= FALSE_POSITIVE_RATE))


def accuracy_split(correct: np.ndarray, mask: np.ndarray) -> dict:
    """Accuracy of the faces inside and outside ``mask``, with their counts."""
    return {"flagged": int(mask.sum()), "flagged_accuracy":
            round(float(correct[mask].mean()), 4) if mask.any() else None,
            "unflagged": int((~mask).sum()), "unflagged_accuracy":
            round(float(correct[~mask].mean()), 4) if (~mask).any() else None}


def planted_faces(recognizer: EmotionRecognizer) -> dict:
    """Set a: confidences, correctness and the classifier's flag of the planted validation faces."""
    validation = load_validation(None, recognizer.record)
    faces = cached_detections("validation", validation.images, recognizer.detector)
    found = np.array([face is not None for face in faces])
    probs = recognizer.classify_margins(
        list(pipeline_margin_crops(validation.images, faces, recognizer.margins)))
    return {"confidence": np.array([face.confidence for face in faces if face is not None]),
            "correct": probs.argmax(1) == validation.labels[found],
            "classifier_flag": probs.max(1) < recognizer.uncertain_threshold,
            "faces": len(faces), "detected": int(found.sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL_PATH, help="Model to measure.")
    parser.add_argument("--shared-dir", default=os.environ.get("EMOTION_SHARED_DIR", "../shared"),
                        help="Folder holding data/photos/ and data/videos/woman2.mp4.")
    parser.add_argument("--out", default="reports/benchmarks/uncertainty.json",
                        help="Where the JSON report goes.")
    args = parser.parse_args(argv)
    started_s = time.time()
    shared = Path(args.shared_dir).expanduser().absolute()
    recognizer = EmotionRecognizer(args.model)
    detector = recognizer.detector
    false = false_detections(detector, shared)
    false_confidences = [row["confidence"] for row in false]
    threshold = detector_threshold(false_confidences)
    planted = planted_faces(recognizer)
    photos = photo_confidences(detector, shared)
    video = video_confidences(detector, shared / "data/videos/woman2.mp4")
    true_sets = {"planted_validation_faces": planted["confidence"].tolist(), **photos,
                 "woman2.mp4": video}
    cuts = {"study_0.99": STUDY_CONFIDENT_DETECTION}
    if threshold is not None:
        cuts["rule"] = threshold
    report = {
        "rule": "reports/uncertainty_rule.txt",
        "false_detections": {"count": len(false), "detections": false,
                             "images": sorted(face_free_images(shared))},
        "detector_threshold": threshold,
        "detector_class_dropped": threshold is None,
        "true_faces": {name: {"faces": len(values),
                              **{f"share_below_{key}": below(values, cut)
                                 for key, cut in cuts.items()},
                              "min_confidence": round(min(values), 5) if values else None}
                       for name, values in true_sets.items()},
        "label_accuracy_by_detector_confidence": {
            key: accuracy_split(planted["correct"], planted["confidence"] < cut)
            for key, cut in cuts.items()},
        "classifier_flag": {"uncertain_threshold": recognizer.uncertain_threshold,
                            "promised_unflagged_accuracy": PROMISED_CONFIDENT_ACCURACY,
                            "planted_faces": planted["faces"],
                            "detected": planted["detected"],
                            "share_flagged": round(float(planted["classifier_flag"].mean()), 4),
                            **accuracy_split(planted["correct"], planted["classifier_flag"])},
        "model": str(args.model),
        "command": COMMAND,
        "hardware": hardware_description(),
        "run_time_s": round(time.time() - started_s, 1),
    }
    write_json(project_path(args.out), report)
    record_measurement(project_path(args.out), project_path(args.model), project_path("."))
    print(f"false detections: {len(false)}; detector threshold: "
          f"{threshold if threshold is not None else 'none (class dropped)'}")
    for name, row in report["true_faces"].items():
        print(f"{name}: {row}")
    print(f"classifier flag: {report['classifier_flag']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
