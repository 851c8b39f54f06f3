"""Group-photo inference: image reading, the recognizer API and drawing.

Most tests use the tiny untrained model (fast; its labels are meaningless) and share one
recognizer, because loading MTCNN and the model takes seconds on a CPU. The photos are made
by the tests (``made_files``); only two tests use the study's ``people.jpg`` when present.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from made_files import GROUP_FACES, group_rgb, write_group_photo, write_no_faces_photo
from PIL import Image

from emotion_classification.inference.calibration import apply_temperature
from emotion_classification.inference.detection import Face
from emotion_classification.inference.drawing import (
    CONFIDENT_RGB,
    UNCERTAIN_RGB,
    annotate,
    drawing_sizes,
)
from emotion_classification.inference.images import ImageReadError, read_image, sample_photo
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.models.runtimes import predict_probs
from emotion_classification.utils.files import project_root

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
def group_png(tmp_path_factory) -> Path:
    return write_group_photo(tmp_path_factory.mktemp("photos") / "group.png")


@pytest.fixture(scope="module")
def group_faces(recognizer, group_png) -> list[dict]:
    return recognizer.detect_emotions(group_png)


# ----------------------------------------------------------------------------- reading


def write_bad_files(folder: Path, photo: Path) -> dict[str, Path]:
    """Files that look like photos by name but are not readable images."""
    files = {"empty": folder / "empty.jpg", "text": folder / "notes.jpg",
             "truncated": folder / "truncated.jpg", "missing": folder / "missing.jpg"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a picture\n")
    data = photo.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    return files


@pytest.mark.parametrize("kind, problem", [("empty", "empty file"), ("text", "not an image"),
                                           ("truncated", "truncated"), ("missing", "no such file")])
def test_unreadable_files_raise_one_line_error(tmp_path, kind, problem):
    path = write_bad_files(tmp_path, sample_photo())[kind]
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
def test_a_6000x4000_photo_is_handled(recognizer, group_faces, tmp_path):
    scale = 6000 / 1536
    enlarged = Image.fromarray(group_rgb()).resize((6000, round(1200 * scale)),
                                                   Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (6000, 4688), "white")
    canvas.paste(enlarged, (0, 0))
    canvas.save(tmp_path / "big.jpg", quality=90)
    del enlarged, canvas
    faces = recognizer.detect_emotions(tmp_path / "big.jpg")
    assert len(faces) == len(group_faces)
    expected = [[round(v * scale) for v in face["box"]] for face in group_faces]
    assert all(best_iou(face["box"], expected) > 0.6 for face in faces)


# ----------------------------------------------------------------------------- recognizer


def test_near_tied_probabilities_give_a_top_emotion_that_matches_the_written_scores(recognizer):
    from emotion_classification.inference.detection import Face

    probs = np.full(len(CLASS_NAMES), 0.14, np.float64)
    probs[CLASS_NAMES.index("disgust")] = 0.1461596  # rounds to 0.14616
    probs[CLASS_NAMES.index("happy")] = 0.1461604  # larger, but also rounds to 0.14616
    record = recognizer.face_record(Face((0, 0, 10, 10), 0.999), probs)
    assert record["top_emotion"] == max(record["emotions"], key=record["emotions"].get)
    assert record["top_score"] == record["emotions"][record["top_emotion"]] == 0.14616


def test_group_photo_faces_have_complete_records(recognizer, group_faces):
    assert len(group_faces) == GROUP_FACES
    for face in group_faces:
        assert set(face) == {"box", "confidence", "landmarks", "emotions", "top_emotion",
                             "top_score", "uncertain", "uncertain_reason"}
        x, y, w, h = face["box"]
        assert all(isinstance(v, int) for v in face["box"])
        assert 0 <= x and 0 <= y and x + w <= 1536 and y + h <= 1200
        assert set(face["emotions"]) == set(CLASS_NAMES)
        assert sum(face["emotions"].values()) == pytest.approx(1.0, abs=1e-4)
        assert face["top_emotion"] == max(face["emotions"], key=face["emotions"].get)
        assert face["uncertain"] == (face["confidence"] < recognizer.confident_detection
                                     or face["top_score"] < recognizer.uncertain_threshold)
        assert "detector" not in face["uncertain_reason"], "no detector class by default"
        assert set(face["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left",
                                          "mouth_right"}
    assert [face["box"][0] for face in group_faces] == sorted(face["box"][0]
                                                              for face in group_faces)
    json.dumps(group_faces)  # plain Python types only


def test_people_jpg_has_about_30_faces(recognizer, people_jpg):
    low, high = PEOPLE_FACES_RANGE
    assert low <= len(recognizer.detect_emotions(people_jpg)) <= high


def test_all_faces_of_all_images_share_one_predict_call(recognizer, group_png, predict_spy):
    calls = predict_spy(recognizer)
    results = recognizer.detect_emotions_batch([group_png, sample_photo(), group_png])
    assert [len(faces) for faces in results] == [GROUP_FACES, 1, GROUP_FACES]
    assert calls == [(2 * GROUP_FACES + 1) * len(recognizer.margins)]  # every cut of every face


def test_several_margins_average_the_predictions_of_each_margin(recognizer, group_png,
                                                                 group_faces, predict_spy):
    """``margin=(a, b, c)`` cuts every face at each margin, classifies all the cuts in one
    call and averages; the crop kept to show a face is the middle margin's."""
    import copy

    rgb = read_image(group_png)
    boxes = [[face["box"] for face in group_faces]]
    margins = (0.0, 0.05, 0.1)
    by_margin = {}
    for margin in margins:
        single = copy.copy(recognizer)
        single.margins = (margin,)
        by_margin[margin] = single.analyze([rgb], faces=boxes)[0]
    several = copy.copy(recognizer)
    several.margins = margins
    calls = predict_spy(several)
    averaged = several.analyze([rgb], faces=boxes)[0]
    assert calls == [GROUP_FACES * len(margins)]
    expected = np.mean([by_margin[margin].probs for margin in margins], axis=0)
    np.testing.assert_allclose(averaged.probs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(averaged.crops, by_margin[0.05].crops)


def test_margins_are_checked():
    from emotion_classification.inference.detection import crop_margins

    assert crop_margins(0.1) == (0.1,)
    assert crop_margins([0.1, 0.0]) == (0.0, 0.1)
    for bad in ([], [-0.1], [1.0], (0.05, 2)):
        with pytest.raises(ValueError, match="margin"):
            crop_margins(bad)


@pytest.mark.slow
def test_an_image_gets_the_same_faces_alone_and_at_any_place_in_a_batch(recognizer, group_png,
                                                                        tmp_path):
    """MTCNN's batched mode moves boxes with the batch: every image is detected on its own."""
    other = write_no_faces_photo(tmp_path / "other.jpg")
    alone = recognizer.detect_emotions(group_png)
    for batch, position in (([group_png, group_png], 1), ([other, group_png], 1),
                            ([group_png, sample_photo(), group_png], 2)):
        assert recognizer.detect_emotions_batch(batch)[position] == alone
    assert recognizer.detect_emotions_batch([group_png, group_png])[0] == alone


def test_bgr_array_and_pil_image_give_the_same_faces(recognizer, group_png):
    from_pil = recognizer.detect_emotions(Image.open(group_png))
    from_cv2 = recognizer.detect_emotions(cv2.imread(str(group_png)), color_order="bgr")
    assert len(from_pil) == GROUP_FACES
    assert from_cv2 == from_pil


def test_no_faces_and_top_emotion(recognizer, group_faces, group_png, tmp_path):
    no_faces = write_no_faces_photo(tmp_path / "no-faces.jpg")
    assert recognizer.detect_emotions(no_faces) == []
    assert recognizer.top_emotion(no_faces) == (None, None)
    largest = max(group_faces, key=lambda face: face["box"][2] * face["box"][3])
    assert recognizer.top_emotion(group_png) == (largest["top_emotion"], largest["top_score"])


def test_probabilities_are_calibrated_with_the_record_temperature(recognizer):
    crops = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1), dtype=np.uint8)
    raw = predict_probs(recognizer.model, crops)
    saved = recognizer.temperature
    try:
        recognizer.temperature = 0.2
        np.testing.assert_allclose(recognizer.classify(crops), apply_temperature(raw, 0.2),
                                   rtol=1e-5)
    finally:
        recognizer.temperature = saved


def test_uncertain_rule(recognizer, monkeypatch):
    sure = np.array([0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01], np.float32)
    unsure = np.full(7, 1 / 7, np.float32)
    assert recognizer.confident_detection == 0.0  # by default the detector flags nothing
    assert recognizer.face_record(Face((0, 0, 9, 9), 0.901), sure)["uncertain_reason"] == ""
    monkeypatch.setattr(recognizer, "confident_detection", 0.99)  # the study's rule
    assert not recognizer.face_record(Face((0, 0, 9, 9), 0.995), sure)["uncertain"]
    assert recognizer.face_record(Face((0, 0, 9, 9), 0.985), sure)["uncertain"]  # detector
    assert recognizer.face_record(Face((0, 0, 9, 9), 0.999), unsure)["uncertain"]  # classifier
    assert [recognizer.face_record(Face((0, 0, 9, 9), conf), p)["uncertain_reason"]
            for conf, p in ((0.995, sure), (0.985, sure), (0.999, unsure), (0.9, unsure))] == [
        "", "detector", "classifier", "detector+classifier"]


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


# ----------------------------------------------------------------------------- real model


def test_most_people_in_people_jpg_are_happy(committed_model_path, people_jpg):
    faces = EmotionRecognizer(committed_model_path).detect_emotions(people_jpg)
    assert PEOPLE_FACES_RANGE[0] <= len(faces) <= PEOPLE_FACES_RANGE[1]
    happy = sum(face["top_emotion"] == "happy" for face in faces)
    assert happy >= 0.6 * len(faces)
