"""Group-photo inference: image reading, the recognizer API and the ``predict`` command.

Most tests use the tiny untrained model (fast; its labels are meaningless) and share one
recognizer, because loading MTCNN and the model takes seconds on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from emotion_classification import inference
from emotion_classification.calibration import apply_temperature
from emotion_classification.data import CLASS_NAMES, project_root
from emotion_classification.detection import Face
from emotion_classification.inference import (
    CONFIDENT_RGB,
    UNCERTAIN_RGB,
    EmotionRecognizer,
    ImageReadError,
    annotate,
    drawing_sizes,
    read_image,
    sample_photo,
)
from emotion_classification.models import predict_proba

ROOT = project_root()
REAL_MODEL = ROOT / "models" / "emotion_cnn.keras"
#: MTCNN with the default settings finds 31 faces in people.jpg (the study reports about 30).
PEOPLE_FACES_RANGE = (25, 40)


def box_iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def best_iou(box, boxes) -> float:
    return max((box_iou(box, other) for other in boxes), default=0.0)


@pytest.fixture(scope="module")
def recognizer(tiny_model_path) -> EmotionRecognizer:
    return EmotionRecognizer(tiny_model_path)


@pytest.fixture(scope="module")
def people_faces(recognizer, people_jpg) -> list[dict]:
    return recognizer.detect_emotions(people_jpg)


@pytest.fixture
def shared_recognizer(monkeypatch, recognizer):
    """Make the CLI reuse the module's recognizer instead of loading the model again."""
    monkeypatch.setattr(inference, "EmotionRecognizer", lambda *args, **kwargs: recognizer)
    return recognizer


# ----------------------------------------------------------------------------- reading


def write_bad_files(folder: Path, people_jpg: Path) -> dict[str, Path]:
    """Files that look like photos by name but are not readable images."""
    files = {"empty": folder / "empty.jpg", "text": folder / "notes.jpg",
             "truncated": folder / "truncated.jpg", "missing": folder / "missing.jpg"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a picture\n")
    data = people_jpg.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    return files


@pytest.mark.parametrize("kind, problem", [("empty", "empty file"), ("text", "not an image"),
                                           ("truncated", "truncated"), ("missing", "no such file")])
def test_unreadable_files_raise_one_line_error(tmp_path, people_jpg, kind, problem):
    path = write_bad_files(tmp_path, people_jpg)[kind]
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message
    assert "\n" not in message


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_rgba_png_is_composited_on_white(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (200, 10, 20, 255)  # opaque red half
    rgba[:, 15:] = (0, 0, 0, 0)  # transparent half (black underneath)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    rgb = read_image(tmp_path / "rgba.png")
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (200, 10, 20)
    assert tuple(rgb[0, 20]) == (255, 255, 255)


def test_grayscale_png_becomes_three_equal_channels(tmp_path):
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    rgb = read_image(tmp_path / "gray.png")
    assert rgb.shape == (8, 25, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 64, 257 * 128, 65535]], np.uint16).repeat(4, axis=0)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    rgb = read_image(tmp_path / "deep.png")
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 64, 128, 255])


def test_palette_png_matches_its_colours(tmp_path):
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[:5] = (255, 0, 0)
    rgb[5:] = (0, 0, 255)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(
        tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    np.testing.assert_array_equal(read_image(tmp_path / "palette.png"), rgb)


def test_palette_png_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 1)
    image.save(tmp_path / "transparent.png", transparency=0)
    rgb = read_image(tmp_path / "transparent.png")
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[3, 3]) == (255, 255, 255)


def test_numpy_inputs_in_both_channel_orders():
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    assert tuple(read_image(bgr, color_order="bgr")[0, 0]) == (0, 0, 255)
    assert tuple(read_image(bgr)[0, 0]) == (255, 0, 0)
    assert read_image(np.full((4, 4), 7, np.uint8)).shape == (4, 4, 3)
    assert read_image(np.full((4, 4, 3), 65535, np.uint16)).max() == 255
    assert read_image(np.full((4, 4, 3), 0.5, np.float32)).max() == 128
    with pytest.raises(ImageReadError, match="shape"):
        read_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="color_order"):
        read_image(bgr, color_order="hsv")


def test_exif_orientation_is_applied(recognizer, tmp_path):
    """A photo stored sideways with EXIF Orientation=6 gives the boxes of the upright photo."""
    upright = Image.open(sample_photo()).convert("RGB")
    upright.save(tmp_path / "upright.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "sideways.jpg", quality=95,
                                                      exif=exif)
    assert Image.open(tmp_path / "sideways.jpg").size == upright.size[::-1]
    assert read_image(tmp_path / "sideways.jpg").shape == (upright.height, upright.width, 3)
    expected = [face["box"] for face in recognizer.detect_emotions(tmp_path / "upright.jpg")]
    found = [face["box"] for face in recognizer.detect_emotions(tmp_path / "sideways.jpg")]
    assert len(expected) >= 1 and len(found) == len(expected)
    assert all(best_iou(box, expected) > 0.8 for box in found)


@pytest.mark.slow
def test_a_6000x4000_photo_is_handled(recognizer, people_jpg, people_faces, tmp_path):
    scale = 6000 / 1024
    enlarged = Image.open(people_jpg).resize((6000, round(632 * scale)), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (6000, 4000), "white")
    canvas.paste(enlarged, (0, 0))
    canvas.save(tmp_path / "big.jpg", quality=90)
    del enlarged, canvas
    faces = recognizer.detect_emotions(tmp_path / "big.jpg")
    assert abs(len(faces) - len(people_faces)) <= 3
    expected = [[round(v * scale) for v in face["box"]] for face in people_faces]
    matched = [best_iou(face["box"], expected) > 0.6 for face in faces]
    assert sum(matched) >= 0.9 * len(faces)


# ----------------------------------------------------------------------------- recognizer


def test_near_tied_probabilities_give_a_top_emotion_that_matches_the_written_scores(recognizer):
    from emotion_classification.detection import Face

    probs = np.full(len(CLASS_NAMES), 0.14, np.float64)
    probs[CLASS_NAMES.index("disgust")] = 0.1461596  # rounds to 0.14616
    probs[CLASS_NAMES.index("happy")] = 0.1461604  # larger, but also rounds to 0.14616
    record = recognizer.face_record(Face((0, 0, 10, 10), 0.999), probs)
    assert record["top_emotion"] == max(record["emotions"], key=record["emotions"].get)
    assert record["top_score"] == record["emotions"][record["top_emotion"]] == 0.14616


def test_people_jpg_has_about_30_faces_with_complete_records(recognizer, people_faces):
    low, high = PEOPLE_FACES_RANGE
    assert low <= len(people_faces) <= high
    for face in people_faces:
        assert set(face) == {"box", "confidence", "landmarks", "emotions", "top_emotion",
                             "top_score", "uncertain"}
        x, y, w, h = face["box"]
        assert all(isinstance(v, int) for v in face["box"])
        assert 0 <= x and 0 <= y and x + w <= 1024 and y + h <= 632
        assert set(face["emotions"]) == set(CLASS_NAMES)
        assert sum(face["emotions"].values()) == pytest.approx(1.0, abs=1e-4)
        assert face["top_emotion"] == max(face["emotions"], key=face["emotions"].get)
        assert face["uncertain"] == (face["confidence"] < 0.99
                                     or face["top_score"] < recognizer.uncertain_threshold)
        assert set(face["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left",
                                          "mouth_right"}
    json.dumps(people_faces)  # plain Python types only


def test_all_faces_of_all_images_share_one_predict_call(recognizer, people_jpg, predict_spy):
    calls = predict_spy(recognizer)
    results = recognizer.detect_emotions_batch([people_jpg, sample_photo(), people_jpg])
    total = sum(len(faces) for faces in results)
    assert total >= 2 * PEOPLE_FACES_RANGE[0] + 1
    assert calls == [total]


def test_bgr_array_and_pil_image_give_the_same_faces(recognizer, people_jpg, tmp_path):
    png = tmp_path / "people.png"  # lossless, so both decoders see identical pixels
    Image.open(people_jpg).save(png)
    from_pil = recognizer.detect_emotions(Image.open(png))
    from_cv2 = recognizer.detect_emotions(cv2.imread(str(png)), color_order="bgr")
    assert [f["box"] for f in from_cv2] == [f["box"] for f in from_pil]
    assert [f["top_emotion"] for f in from_cv2] == [f["top_emotion"] for f in from_pil]
    for a, b in zip(from_cv2, from_pil, strict=True):
        assert a["emotions"] == pytest.approx(b["emotions"], abs=1e-5)


def test_no_faces_and_top_emotion(recognizer, shared_dir, people_faces, people_jpg):
    no_faces = shared_dir / "data" / "photos" / "no-faces.jpg"
    assert recognizer.detect_emotions(no_faces) == []
    assert recognizer.top_emotion(no_faces) == (None, None)
    largest = max(people_faces, key=lambda face: face["box"][2] * face["box"][3])
    assert recognizer.top_emotion(people_jpg) == (largest["top_emotion"], largest["top_score"])


def test_probabilities_are_calibrated_with_the_record_temperature(recognizer):
    crops = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1), dtype=np.uint8)
    raw = predict_proba(recognizer.model, crops)
    saved = recognizer.temperature
    try:
        recognizer.temperature = 0.2
        np.testing.assert_allclose(recognizer.classify(crops), apply_temperature(raw, 0.2),
                                   rtol=1e-5)
    finally:
        recognizer.temperature = saved


def test_uncertain_rule(recognizer):
    sure = np.array([0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01], np.float32)
    unsure = np.full(7, 1 / 7, np.float32)
    assert not recognizer.face_record(Face((0, 0, 9, 9), 0.995), sure)["uncertain"]
    assert recognizer.face_record(Face((0, 0, 9, 9), 0.985), sure)["uncertain"]  # detector
    assert recognizer.face_record(Face((0, 0, 9, 9), 0.999), unsure)["uncertain"]  # classifier


# ----------------------------------------------------------------------------- drawing


def test_labels_grow_with_the_image():
    small_font, small_line = drawing_sizes((480, 640, 3))
    big_font, big_line = drawing_sizes((3000, 4000, 3))
    assert small_font >= 0.45 and small_line >= 1
    assert big_font > 2 * small_font and big_line > 2 * small_line


def test_annotation_colours_are_in_rgb_order():
    black = np.zeros((200, 300, 3), np.uint8)
    face = {"box": [50, 80, 60, 60], "top_emotion": "happy", "top_score": 0.9}
    drawn = annotate(black, [{**face, "uncertain": False},
                             {**face, "box": [180, 80, 60, 60], "uncertain": True}])
    assert tuple(drawn[110, 50]) == CONFIDENT_RGB  # left edge of the first box
    assert tuple(drawn[110, 180]) == UNCERTAIN_RGB
    assert black.max() == 0  # the input is not modified


# ----------------------------------------------------------------------------- command line


def test_cli_processes_good_inputs_despite_bad_ones(shared_recognizer, people_jpg, shared_dir,
                                                    tmp_path, capsys):
    bad = write_bad_files(tmp_path, people_jpg)
    out = tmp_path / "out"
    no_faces = shared_dir / "data" / "photos" / "no-faces.jpg"
    inputs = [str(bad["text"]), str(people_jpg), str(bad["missing"]), str(no_faces),
              str(bad["truncated"]), str(bad["empty"])]
    status = inference.main([*inputs, "--out", str(out), "--panel"])
    captured = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in captured.err
    error_lines = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 4
    for kind in ("text", "missing", "truncated", "empty"):
        assert any(line.startswith(f"error: {bad[kind]}: ") for line in error_lines)
    assert f"note: {no_faces}: no faces found" in captured.err
    assert str(out) in captured.out

    payload = json.loads((out / "results.json").read_text())
    assert [image["path"] for image in payload["images"]] == [str(people_jpg), str(no_faces)]
    assert len(payload["errors"]) == 4
    faces = payload["images"][0]["faces"]
    assert PEOPLE_FACES_RANGE[0] <= len(faces) <= PEOPLE_FACES_RANGE[1]
    assert payload["images"][1]["faces"] == []
    table = pd.read_csv(out / "results.csv")
    assert len(table) == len(faces)
    assert list(table.columns[:10]) == ["image", "face", "x", "y", "w", "h", "confidence",
                                        "top_emotion", "top_score", "uncertain"]
    for face, (_, row) in zip(faces, table.iterrows(), strict=True):
        assert [row.x, row.y, row.w, row.h] == face["box"]
        assert row.top_emotion == face["top_emotion"] and bool(row.uncertain) == face["uncertain"]
        assert row.happy == pytest.approx(face["emotions"]["happy"], abs=1e-6)
        assert row.crop == face["crop"]
        folder = "rejected" if face["uncertain"] else "selected"
        assert face["crop"].startswith(f"faces/{folder}/") and (out / face["crop"]).is_file()
    for name in ("people_annotated.jpg", "people_panel.png", "no-faces_annotated.jpg"):
        assert (out / name).is_file()
    assert Image.open(out / "people_annotated.jpg").size == (1024, 632)
    assert not list(out.rglob(".tmp-*"))  # every file was renamed into place


def test_cli_no_faces_is_not_an_error(shared_recognizer, shared_dir, tmp_path, capsys):
    out = tmp_path / "out"
    status = inference.main([str(shared_dir / "data" / "photos" / "no-faces.jpg"),
                             "--out", str(out)])
    assert status == 0
    assert "no faces found" in capsys.readouterr().err
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 0 and "happy" in table.columns


def test_cli_folders_are_searched_recursively(shared_recognizer, shared_dir, tmp_path, capsys):
    photos = tmp_path / "photos"
    (photos / "nested").mkdir(parents=True)
    source = Image.open(shared_dir / "data" / "photos" / "no-faces.jpg")
    source.save(photos / "a.jpg")
    source.save(photos / "nested" / "a.PNG")  # same stem, other folder: no overwrite
    (photos / "readme.txt").write_text("not a photo")
    out = photos / "results"  # inside the input folder: must not be read back
    assert inference.main([str(photos), "--out", str(out)]) == 0
    assert inference.main([str(photos), "--out", str(out)]) == 0  # a rerun too
    payload = json.loads((out / "results.json").read_text())
    assert sorted(Path(image["path"]).name for image in payload["images"]) == ["a.PNG", "a.jpg"]
    assert {image["annotated"] for image in payload["images"]} == {"a_annotated.jpg",
                                                                  "a-2_annotated.jpg"}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert inference.main([str(empty), "--out", str(out)]) == 1
    assert "holds no images" in capsys.readouterr().err


def test_cli_default_runs_on_the_sample_photo(tiny_model_path, tmp_path, monkeypatch, capsys):
    """No PATH: the photo shipped with matplotlib, written to outputs/ (fresh clone, no data)."""
    assert sample_photo().is_file()
    monkeypatch.chdir(tmp_path)
    assert inference.main(["--model", str(tiny_model_path), "--threshold", "0.8"]) == 0
    captured = capsys.readouterr()
    assert "grace_hopper.jpg" in captured.err
    payload = json.loads((tmp_path / "outputs" / "results.json").read_text())
    assert len(payload["images"][0]["faces"]) == 1
    assert payload["settings"]["detector_threshold"] == 0.8


def test_cli_usage_errors_are_one_line(tmp_path, capsys):
    assert inference.main(["x.jpg", "--model", str(tmp_path / "none.keras")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "none.keras" in err and "\n" not in err
    assert inference.main(["x.jpg", "--threshold", "2"]) == 2
    assert "--threshold" in capsys.readouterr().err
    assert inference.main(["--min-face-size", "nan"]) == 2  # argparse: usage + message


def test_cli_dispatcher_knows_predict_and_video(capsys):
    from emotion_classification.cli import main

    assert main(["predict", "--help"]) == 0
    assert "--panel" in capsys.readouterr().out
    assert main(["video", "--help"]) == 0
    assert "--every" in capsys.readouterr().out


# ----------------------------------------------------------------------------- real model


def test_most_people_in_people_jpg_are_happy(committed_model_path, people_jpg):
    faces = EmotionRecognizer(committed_model_path).detect_emotions(people_jpg)
    assert PEOPLE_FACES_RANGE[0] <= len(faces) <= PEOPLE_FACES_RANGE[1]
    happy = sum(face["top_emotion"] == "happy" for face in faces)
    assert happy >= 0.6 * len(faces)


@pytest.mark.slow
def test_real_command_line_prints_one_clean_line_per_bad_input(tiny_model_path, tmp_path):
    """The installed entry point, in a fresh process: no TensorFlow banner, no traceback."""
    import subprocess
    import sys

    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    result = subprocess.run([sys.executable, "-m", "emotion_classification", "predict", str(text),
                             "--model", str(tiny_model_path), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {text}: not an image (unrecognised file format)"]
    assert str(tmp_path / "out") in result.stdout
