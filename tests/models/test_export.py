"""TensorFlow Lite export: both files, their predictions against Keras, errors, the CLI.

The ONNX export and the runtimes without TensorFlow are tested in ``test_onnx.py``.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from made_files import fake_fer2013

from emotion_classification.cli.export import main
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.models import export as export_module
from emotion_classification.models.export import compare_with_keras, export_tflite
from emotion_classification.models.files import ModelFileError
from emotion_classification.models.runtimes import (
    load_model_and_record,
    predict_probs,
    tflite_predict,
)

FLOAT_TOLERANCE = 1e-4
INT8_PROB_TOLERANCE = 0.05
INT8_MIN_AGREEMENT = 0.8


@pytest.fixture(scope="module")
def exported(tiny_model_path, tmp_path_factory):
    return export_tflite(tiny_model_path, tmp_path_factory.mktemp("tflite"))


@pytest.fixture(scope="module")
def keras_probs(tiny_model_path, images):
    return predict_probs(load_model_and_record(tiny_model_path)[0], images)


def test_export_writes_both_files_and_int8_is_smaller(exported, tiny_model_path):
    assert set(exported) == {"float32", "int8"}
    assert exported["float32"].name == "tiny_float32.tflite"
    assert all(path.is_file() for path in exported.values())
    assert exported["int8"].stat().st_size < exported["float32"].stat().st_size
    assert not list(exported["float32"].parent.glob(".tmp-*"))
    record = exported["float32"].with_name("tiny.json")  # copied beside the exported files
    assert record.read_text() == tiny_model_path.with_suffix(".json").read_text()


def test_float32_matches_keras(exported, images, keras_probs):
    probs = tflite_predict(exported["float32"], images, batch_size=16)  # 16+16+5: resizes
    assert probs.shape == (len(images), len(CLASS_NAMES))
    np.testing.assert_allclose(probs, keras_probs, atol=FLOAT_TOLERANCE)


def test_int8_agrees_with_keras_on_most_images(exported, images, keras_probs):
    probs = tflite_predict(exported["int8"], images)
    assert np.abs(probs - keras_probs).max() < INT8_PROB_TOLERANCE
    assert np.mean(probs.argmax(1) == keras_probs.argmax(1)) >= INT8_MIN_AGREEMENT


def test_recognizer_runs_a_tflite_file_with_the_record_of_its_model(exported, recognizer,
                                                                   images):
    tflite = EmotionRecognizer(exported["int8"])
    assert tflite.uncertain_threshold == recognizer.uncertain_threshold == 0.5
    probs, keras_probs = tflite.classify(images), recognizer.classify(images)
    assert np.abs(probs - keras_probs).max() < INT8_PROB_TOLERANCE


def test_comparison_table(tiny_model_path, exported, images):
    labels = np.arange(len(images)) % len(CLASS_NAMES)
    files = {f"tflite_{variant}": path for variant, path in exported.items()}
    table = compare_with_keras(tiny_model_path, files, images, labels)
    assert list(table.index) == ["keras", "tflite_float32", "tflite_int8"]
    assert {"size_mb", "accuracy", "accuracy_diff_points", "top1_agreement",
            "faces_per_s"} <= set(table.columns)
    assert table.loc["keras", "accuracy_diff_points"] == 0
    assert table.loc["tflite_float32", "top1_agreement"] == 1.0
    assert (table["faces_per_s"] > 0).all()


def test_missing_or_broken_model_gives_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        export_tflite(tmp_path / "missing.keras", tmp_path)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="cannot load"):
        export_tflite(broken, tmp_path)


def test_missing_or_broken_tflite_gives_a_clear_error(tmp_path, images):
    with pytest.raises(ModelFileError, match="not found"):
        tflite_predict(tmp_path / "missing.tflite", images)
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelFileError, match="not a TensorFlow Lite model"):
        tflite_predict(broken, images)


def test_cli_bad_model_prints_an_error_not_a_traceback(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "missing.keras"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "missing.keras" in err and "Traceback" not in err


@pytest.mark.slow
def test_cli_check_writes_report(tiny_model_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    fake_fer2013(tmp_path / "fer")
    report = tmp_path / "export.json"
    code = main(["--model", str(tiny_model_path), "--out", str(tmp_path / "out"), "--check",
                 "--data-dir", str(tmp_path / "fer"), "--report", str(report)])
    assert code == 0
    assert (tmp_path / "out" / "tiny_int8.tflite").is_file()
    payload = json.loads(report.read_text())
    assert [row["format"] for row in payload["results"]] == ["keras", "tflite_float32",
                                                             "tflite_int8"]
    assert payload["command"].startswith("python -m emotion_classification export --model ")
    assert set(payload["tflite"]) == {"float32", "int8"} and "onnx" not in payload
    assert "tflite_int8" in capsys.readouterr().out


def test_cli_takes_relative_paths_from_the_current_folder(tiny_model_path, tmp_path,
                                                          monkeypatch, capsys):
    """``--model`` and ``--out`` typed as relative paths name files where the user stands,
    as in predict and video; the default folder is outputs/export/, never models/."""
    from emotion_classification.cli.export import parse_args
    from emotion_classification.models.export import DEFAULT_OUT_DIR

    (tmp_path / "mine.keras").write_bytes(tiny_model_path.read_bytes())
    (tmp_path / "mine.json").write_bytes(tiny_model_path.with_suffix(".json").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert main(["--model", "mine.keras", "--out", "exported"]) == 0
    assert sorted(p.name for p in (tmp_path / "exported").glob("*.tflite")) == [
        "mine_float32.tflite", "mine_int8.tflite"]
    assert "saved " in capsys.readouterr().err
    assert DEFAULT_OUT_DIR == "outputs/export" and parse_args([]).out is None


# ----------------------------------------------------------------------------- write errors


def test_cli_out_that_is_a_file_is_one_line_before_any_conversion(tiny_model_path, tmp_path,
                                                                 capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert main(["--model", str(tiny_model_path), "--out", str(taken)]) == 2
    assert capsys.readouterr().err == (f"error: {taken}: is a file, not a folder; choose "
                                       "another --out\n")
    assert taken.read_text() == "mine"


def test_cli_check_with_a_bad_batch_size_writes_nothing(tiny_model_path, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--model", str(tiny_model_path), "--out", str(out), "--check",
                 "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == "error: --batch-size must be a positive image count, got 0\n"
    assert not out.exists()


def test_cli_read_only_folder_is_not_blamed_on_the_conversion(tiny_model_path, tmp_path,
                                                              monkeypatch, capsys):
    """A folder that refuses writing (read-only file system, no permission): os.access
    says so even to root, which ignores permission bits, so the test asks it to."""
    out = tmp_path / "read_only"
    out.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != out and access(path, mode))
    assert main(["--model", str(tiny_model_path), "--out", str(out), "--format", "onnx"]) == 2
    assert capsys.readouterr().err == (f"error: {out}: cannot write in the export folder "
                                       "(read-only or permission denied); choose another --out\n")
    assert not list(out.iterdir())


class StandInExport:
    """Stands for the Keras model being exported: writes nothing, or fails writing its file
    with the error number given."""

    def __init__(self, number: int | None = None):
        self.number = number

    def export(self, filepath, *args, **kwargs):
        if self.number is not None:
            raise OSError(self.number, os.strerror(self.number), str(filepath))


@pytest.mark.parametrize("number", [errno.EACCES, errno.ENOSPC])
def test_cli_onnx_write_errors_name_the_file_not_the_conversion(tiny_model_path, tmp_path,
                                                                monkeypatch, capsys, number):
    out = tmp_path / "out"
    monkeypatch.setattr(export_module, "inference_model", lambda model: StandInExport(number))
    assert main(["--model", str(tiny_model_path), "--out", str(out), "--format", "onnx"]) == 1
    assert capsys.readouterr().err == (f"error: {out / 'tiny.onnx'}: cannot write "
                                       f"({os.strerror(number)})\n")
    assert not list(out.iterdir())  # no temporary file left


def test_cli_full_disk_writing_tflite_names_the_file(tiny_model_path, tmp_path, monkeypatch,
                                                     capsys):
    """The conversion is stood in for (its result does not matter here); the disk is full
    when the first file is written."""
    out = tmp_path / "out"
    monkeypatch.setattr(export_module, "inference_model", lambda model: StandInExport())
    monkeypatch.setattr(export_module, "convert_saved_model", lambda folder, quantize: b"model")

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    assert main(["--model", str(tiny_model_path), "--out", str(out)]) == 1
    assert capsys.readouterr().err == (f"error: {out / 'tiny_float32.tflite'}: cannot write "
                                       "(No space left on device)\n")
    assert not list(out.iterdir())
