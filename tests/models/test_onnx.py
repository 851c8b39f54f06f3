"""ONNX export, the recognizer on onnxruntime without TensorFlow, and model aliases."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from made_files import fake_fer2013

from emotion_classification.cli import predict
from emotion_classification.cli.export import main
from emotion_classification.data.augmentation import build_augmentation
from emotion_classification.inference.images import sample_photo
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.labels import CLASS_NAMES, MODEL_ALIASES
from emotion_classification.models.architectures import emotion_cnn
from emotion_classification.models.export import compare_with_keras, export_onnx
from emotion_classification.models.files import ModelFileError, resolve_model_path
from emotion_classification.models.runtimes import (
    OnnxClassifier,
    load_model_and_record,
    predict_probs,
)
from emotion_classification.training.run_records import save_model_with_record
from emotion_classification.utils.files import project_root

#: ONNX and Keras run the same float32 graph; only the order of float operations differs.
ONNX_PROB_TOLERANCE = 1e-5
#: Records round probabilities to 6 decimals.
RECORD_PROB_TOLERANCE = 1e-4

#: Run in a child process: block every import of TensorFlow, then classify the faces of a
#: photo with a .onnx model and try to detect faces (which needs MTCNN, hence TensorFlow).
WITHOUT_TENSORFLOW = """
import importlib.abc, json, sys

class BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"{name} is blocked in this test")

sys.meta_path.insert(0, BlockTensorFlow())
from emotion_classification.inference.recognizer import DetectorUnavailableError, EmotionRecognizer

job = json.load(sys.stdin)
recognizer = EmotionRecognizer(job["model"])
faces = recognizer.detect_emotions(job["photo"], faces=job["boxes"])
try:
    recognizer.detect_emotions(job["photo"])
    detector_error = None
except DetectorUnavailableError as error:
    detector_error = str(error)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras"))
print(json.dumps({"faces": faces, "detector_error": detector_error, "loaded": loaded}))
"""


@pytest.fixture(scope="module")
def onnx_file(tiny_model_path, tmp_path_factory):
    return export_onnx(tiny_model_path, tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def keras_model(tiny_model_path):
    return load_model_and_record(tiny_model_path)[0]


# ----------------------------------------------------------------------------- export


def test_export_writes_the_onnx_file_and_its_record(onnx_file, tiny_model_path):
    assert onnx_file.name == "tiny.onnx" and onnx_file.is_file()
    record = onnx_file.with_suffix(".json")
    assert record.read_text() == tiny_model_path.with_suffix(".json").read_text()
    assert not list(onnx_file.parent.glob(".tmp-*"))


def test_onnx_matches_keras_for_any_batch_size(onnx_file, keras_model, images):
    keras_probs = predict_probs(keras_model, images)
    classifier = OnnxClassifier(onnx_file, num_threads=2)
    for batch_size in (16, 256):  # 16+16+5 and one batch: the batch axis is dynamic
        probs = classifier.predict(images, batch_size)
        assert probs.shape == (len(images), len(CLASS_NAMES))
        np.testing.assert_allclose(probs, keras_probs, atol=ONNX_PROB_TOLERANCE)


@pytest.mark.parametrize("tta", ["flip", "ten_crop"])
def test_onnx_test_time_augmentation_matches_keras(onnx_file, keras_model, images, tta):
    probs = predict_probs(OnnxClassifier(onnx_file), images, tta=tta)
    np.testing.assert_allclose(probs, predict_probs(keras_model, images, tta=tta),
                               atol=ONNX_PROB_TOLERANCE)


@pytest.mark.slow
def test_a_model_holding_random_augmentation_layers_exports_in_inference_mode(tmp_path,
                                                                              images):
    net = emotion_cnn(widths=(8, 8, 16, 16), head_units=16, name="tiny")
    inputs = keras.Input((48, 48, 1), name="pixels")
    model = keras.Model(inputs, net(build_augmentation("seed")(inputs)), name="augmented")
    path = tmp_path / "augmented.keras"
    save_model_with_record(model, {"class_names": list(CLASS_NAMES)}, path)
    probs = OnnxClassifier(export_onnx(path, tmp_path / "out")).predict(images)
    np.testing.assert_allclose(probs, predict_probs(model, images), atol=ONNX_PROB_TOLERANCE)


def test_comparison_table_has_an_onnx_row(tiny_model_path, onnx_file, images):
    labels = np.arange(len(images)) % len(CLASS_NAMES)
    table = compare_with_keras(tiny_model_path, {"onnx": onnx_file}, images, labels)
    assert list(table.index) == ["keras", "onnx"]
    assert table.loc["onnx", "top1_agreement"] == 1.0
    assert table.loc["onnx", "accuracy_diff_points"] == 0
    assert table.loc["onnx", "max_abs_prob_diff"] < ONNX_PROB_TOLERANCE
    assert table.loc["onnx", "file"] == "tiny.onnx" and table.loc["onnx", "faces_per_s"] > 0


def test_cli_format_onnx_check_writes_report(tiny_model_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    fake_fer2013(tmp_path / "fer")
    report = tmp_path / "export_onnx.json"
    code = main(["--model", str(tiny_model_path), "--format", "onnx", "--out",
                 str(tmp_path / "out"), "--check", "--data-dir", str(tmp_path / "fer"),
                 "--report", str(report)])
    assert code == 0
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["tiny.json",
                                                                          "tiny.onnx"]
    payload = json.loads(report.read_text())
    assert [row["format"] for row in payload["results"]] == ["keras", "onnx"]
    assert payload["onnx"] == str(tmp_path / "out" / "tiny.onnx") and "tflite" not in payload
    assert "--format onnx" in payload["command"] and payload["onnxruntime"]
    assert "onnx" in capsys.readouterr().out


def test_cli_rejects_an_unknown_format(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--format", "pt"])
    assert exit_.value.code == 2
    assert "invalid choice: 'pt'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- recognizer


def test_onnx_recognizer_gives_the_keras_recognizers_probabilities(onnx_file, recognizer,
                                                                   images):
    onnx = EmotionRecognizer(onnx_file)
    assert onnx.model_path == str(onnx_file) and onnx.uncertain_threshold == 0.5
    np.testing.assert_allclose(onnx.classify(images), recognizer.classify(images),
                               atol=ONNX_PROB_TOLERANCE)


def test_given_face_boxes_skip_the_detector(recognizer):
    boxes = [(150, 60, 200, 240), (10, 10, 48, 48)]
    faces = recognizer.detect_emotions(sample_photo(), faces=boxes)
    assert [face["box"] for face in faces] == [list(box) for box in boxes]
    assert all(face["confidence"] == 1.0 for face in faces)


def test_a_broken_onnx_file_gives_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a valid ONNX model file") as caught:
        EmotionRecognizer(broken)
    assert str(caught.value).startswith(str(broken)) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_onnx_recognizer_runs_without_tensorflow(committed_model_path, tmp_path):
    onnx_path = export_onnx(committed_model_path, tmp_path)
    photo = str(sample_photo())
    keras_faces = EmotionRecognizer(committed_model_path).detect_emotions(photo)
    assert keras_faces, "MTCNN finds Grace Hopper's face"
    job = {"model": str(onnx_path), "photo": photo,
           "boxes": [face["box"] for face in keras_faces]}
    child = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW], input=json.dumps(job),
                           capture_output=True, text=True, check=False)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert "needs TensorFlow" in result["detector_error"]
    assert [face["box"] for face in result["faces"]] == job["boxes"]
    for onnx_face, keras_face in zip(result["faces"], keras_faces, strict=True):
        assert onnx_face["top_emotion"] == keras_face["top_emotion"]
        np.testing.assert_allclose(list(onnx_face["emotions"].values()),
                                   list(keras_face["emotions"].values()),
                                   atol=RECORD_PROB_TOLERANCE)


# ----------------------------------------------------------------------------- aliases


def test_accurate_is_the_default_model():
    shipped = project_root() / "models" / "emotion_cnn.keras"
    assert resolve_model_path("accurate") == resolve_model_path(None) == shipped


def test_a_missing_fast_model_says_how_to_make_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(MODEL_ALIASES, "fast", str(tmp_path / "emotion_cnn_fast.keras"))
    with pytest.raises(ModelFileError, match="fast model is not shipped yet") as caught:
        EmotionRecognizer(model="fast")
    assert "promote runs/" in str(caught.value) and "\n" not in str(caught.value)
    code = predict.main(["--model", "fast", "--out", str(tmp_path / "out"),
                         str(sample_photo())])
    err = capsys.readouterr().err
    assert code == 2 and "not shipped yet" in err and "Traceback" not in err


def test_model_takes_an_alias_a_path_or_a_keras_model(tiny_model_path, monkeypatch):
    monkeypatch.setitem(MODEL_ALIASES, "fast", str(tiny_model_path))
    assert EmotionRecognizer(model="fast").model_path == str(tiny_model_path)
    by_path = EmotionRecognizer(model=tiny_model_path)
    assert by_path.uncertain_threshold == 0.5 and by_path.model_path == str(tiny_model_path)
    in_memory = EmotionRecognizer(model=by_path.model)
    assert in_memory.model_path == "in-memory model 'tiny'" and in_memory.temperature == 1.0
    with pytest.raises(ValueError, match="not both"):
        EmotionRecognizer(tiny_model_path, model="fast")
