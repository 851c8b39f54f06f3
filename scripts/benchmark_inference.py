"""Time group-photo inference: this project's pipeline against the original study's approach.

Both pipelines read the same photo, run the same MTCNN detector and the same emotion model,
and draw boxes and labels; only the way faces reach the classifier differs:

* **this pipeline**: every face cropped, then all faces classified in one batched call
  (:class:`emotion_classification.inference.recognizer.EmotionRecognizer`);
* **original study** (SEED.md section 8): one ``model.predict`` call per face, each crop
  resized to 48x48 and fed as three identical channels, drawn with a fixed font.

Each is run once to warm up and then ``--repeats`` times; the median is reported. The
classifier's throughput (faces per second) is measured separately, batched and one face per
call. Results are printed and written to ``reports/benchmarks/inference.json``.

    python scripts/benchmark_inference.py [--image PHOTO] [--model MODEL] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from emotion_classification.inference.drawing import annotate
from emotion_classification.inference.images import ImageReadError, read_image
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.labels import DEFAULT_MODEL_PATH
from emotion_classification.training.provenance import record_measurement
from emotion_classification.utils.files import project_root, write_text

DEFAULT_IMAGE = "../shared/data/photos/people.jpg"
DEFAULT_OUT = "reports/benchmarks/inference.json"
DEFAULT_REPEATS = 7
THROUGHPUT_FACES = 1024
PER_FACE_THROUGHPUT_FACES = 64
SEED_MARGIN = 0.1


def this_pipeline(recognizer: EmotionRecognizer, image_path: Path) -> int:
    """Read, detect, classify all faces in one call, draw. Returns the number of faces."""
    rgb = read_image(image_path)
    analysis = recognizer.analyze([rgb])[0]
    annotate(rgb, analysis.records)
    return len(analysis.records)


def seed_pipeline(recognizer: EmotionRecognizer, image_path: Path) -> int:
    """The original study's loop: per face, square crop, 48x48, one predict call, draw."""
    bgr = cv2.imread(str(image_path))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    faces = recognizer.detector.detect(rgb)
    channels = recognizer.model.input_shape[-1]
    for face in faces:
        x, y, w, h = face.box
        side = int(max(w, h) * (1 + 2 * SEED_MARGIN))
        x0, y0 = max(0, x - (side - w) // 2), max(0, y - (side - h) // 2)
        crop = cv2.resize(bgr[y0:y0 + side, x0:x0 + side], (48, 48))
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[..., None]
        batch = np.repeat(gray, channels, axis=-1)[None].astype(np.float32)
        probs = recognizer.model.predict(batch, verbose=0)[0]
        label = recognizer.class_names[int(np.argmax(probs))]
        colour = (255, 0, 0) if face.confidence > 0.99 else (0, 0, 255)
        cv2.rectangle(bgr, (x0, y0), (x0 + side, y0 + side), colour, 1)
        cv2.putText(bgr, label, (x0, y0 - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
    return len(faces)


def time_runs(function, repeats: int) -> tuple[list[float], int]:
    """Wall seconds of ``repeats`` calls after one warm-up call, and the call's result."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times, result


def classifier_throughput(recognizer: EmotionRecognizer, repeats: int) -> dict:
    """Faces per second of the model alone: one batched call vs one call per face."""
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (THROUGHPUT_FACES, 48, 48, 1), dtype=np.uint8)
    batched, _ = time_runs(lambda: recognizer.classify(crops), repeats)
    few = crops[:PER_FACE_THROUGHPUT_FACES]
    single, _ = time_runs(lambda: [recognizer.classify(few[i:i + 1]) for i in range(len(few))],
                          max(1, repeats // 2))
    return {"batched_faces_per_s": THROUGHPUT_FACES / statistics.median(batched),
            "one_per_call_faces_per_s": PER_FACE_THROUGHPUT_FACES / statistics.median(single),
            "batched_faces": THROUGHPUT_FACES, "one_per_call_faces": PER_FACE_THROUGHPUT_FACES}


def machine() -> dict:
    """Where the numbers come from."""
    import keras
    import tensorflow as tf

    from emotion_classification.utils.hardware import gpu_names

    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__, "gpus": gpu_names(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=DEFAULT_IMAGE,
                        help="photo, relative to the project root (default: %(default)s)")
    parser.add_argument("--model", default=None, help="default: models/emotion_cnn.keras")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--out", default=DEFAULT_OUT, help="JSON, relative to the project root")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        print("error: --repeats must be at least 1", file=sys.stderr)
        return 2
    from emotion_classification.models.files import ModelFileError

    root = project_root()
    image_path = (root / args.image).resolve()
    try:
        read_image(image_path)
        recognizer = EmotionRecognizer(args.model)
    except (ImageReadError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    ours, faces = time_runs(lambda: this_pipeline(recognizer, image_path), args.repeats)
    seed, seed_faces = time_runs(lambda: seed_pipeline(recognizer, image_path), args.repeats)
    throughput = classifier_throughput(recognizer, args.repeats)
    report = {
        "image": image_path.name, "model": recognizer.model_path, "repeats": args.repeats,
        "faces": faces, "faces_seed_pipeline": seed_faces,
        "this_pipeline_s": {"median": statistics.median(ours), "all": ours},
        "seed_pipeline_s": {"median": statistics.median(seed), "all": seed},
        "speedup": statistics.median(seed) / statistics.median(ours),
        "classifier": throughput, "machine": machine(),
    }
    rows = [("end to end, this pipeline (s)", report["this_pipeline_s"]["median"]),
            ("end to end, original study's loop (s)", report["seed_pipeline_s"]["median"]),
            ("speed-up", report["speedup"]),
            ("classifier, batched (faces/s)", throughput["batched_faces_per_s"]),
            ("classifier, one face per call (faces/s)", throughput["one_per_call_faces_per_s"])]
    print(f"{image_path.name}: {faces} faces, median of {args.repeats} runs")
    for name, value in rows:
        print(f"  {name:<42} {value:10.3f}")
    out = root / args.out
    write_text(out, json.dumps(report, indent=2) + "\n")
    record_measurement(out, root / (args.model or DEFAULT_MODEL_PATH), root)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
