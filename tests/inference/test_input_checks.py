"""What the recognizer takes from a caller: face boxes, the colour order and crop values.

Boxes outside the image, BGR arrays from OpenCV and float crops in 0..1 once gave a crash or
silently wrong labels; each is now cut, refused in one clear error, or read as documented.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_classification.inference.detection import Face, FaceBoxError, clip_box, square_crop
from emotion_classification.inference.images import sample_photo
from emotion_classification.utils.files import project_root

BLANK_SHAPE = (600, 512, 3)


def probabilities(records: list[dict]) -> list[dict]:
    return [record["emotions"] for record in records]


@pytest.mark.parametrize("box", [(10000, 10000, 50, 50), (-100, -100, 50, 50), (512, 0, 10, 10),
                                 (0, 600, 10, 10)])
def test_a_box_wholly_outside_the_image_is_refused_naming_it(recognizer, box):
    with pytest.raises(FaceBoxError, match=rf"face box \({box[0]}, {box[1]}, .*wholly outside "
                                           r"the 512x600 image"):
        recognizer.detect_emotions(np.zeros(BLANK_SHAPE, np.uint8), faces=[box])


@pytest.mark.parametrize("box", [(10, 10, 0, 5), (10, 10, 5, -5), (10, 10, 5), ("a", 1, 2, 3),
                                 (float("nan"), 1, 2, 3), (float("inf"), 1, 2, 3)])
def test_a_box_without_area_or_numbers_is_refused(recognizer, box):
    with pytest.raises(FaceBoxError, match=r"face box"):
        recognizer.detect_emotions(np.zeros(BLANK_SHAPE, np.uint8), faces=[box])


@pytest.mark.slow
def test_the_outside_box_of_the_issue_no_longer_kills_the_process(tiny_model_path):
    """In a fresh process, as the user ran it: a ValueError, not a segmentation fault."""
    script = ("import numpy as np\n"
              "from emotion_classification import EmotionRecognizer\n"
              f"recognizer = EmotionRecognizer({str(tiny_model_path)!r})\n"
              "try:\n"
              "    recognizer.detect_emotions(np.zeros((600, 512, 3), np.uint8),\n"
              "                               faces=[(10000, 10000, 50, 50)])\n"
              "except ValueError as error:\n"
              "    print(error)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, cwd=project_root())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("face box (10000, 10000, 50, 50): wholly outside the "
                                     "512x600 image")


def test_a_box_partly_outside_is_cut_to_the_image(recognizer):
    """Cut to the image, the box is classified from its own pixels, never from pixels a
    negative slice would take from the other side of the image."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, BLANK_SHAPE, dtype=np.uint8)
    for box, inside in (((-20, -30, 80, 90), (0, 0, 60, 60)),
                        ((480, 560, 100, 100), (480, 560, 32, 40))):
        assert clip_box(box, image.shape) == inside
        cut, given = (recognizer.detect_emotions(image, faces=[b]) for b in (box, inside))
        assert cut[0]["box"] == list(inside) and probabilities(cut) == probabilities(given)
    face = Face(box=(-20, -30, 80, 90), confidence=0.5, landmarks={"nose": (1.0, 2.0)})
    record = recognizer.detect_emotions(image, faces=[face])[0]
    assert record["box"] == [0, 0, 60, 60] and record["confidence"] == 0.5
    assert face.box == (-20, -30, 80, 90)  # the caller's object is left as it was


def test_square_crop_refuses_a_face_outside_the_image():
    with pytest.raises(FaceBoxError):
        square_crop(np.zeros((60, 60), np.uint8), Face(box=(1000, 1000, 20, 20), confidence=1.0))


@pytest.fixture(scope="module")
def portrait_file(tmp_path_factory) -> Path:
    return Path(shutil.copy(sample_photo(), tmp_path_factory.mktemp("photo") / "portrait.jpg"))


def test_an_opencv_image_is_read_as_bgr_when_told(recognizer, portrait_file):
    """``cv2.imread`` gives BGR: with ``color_order="bgr"`` the faces are those of the file."""
    from_file = recognizer.detect_emotions(portrait_file)
    bgr = cv2.imread(str(portrait_file))
    assert len(from_file) == 1
    assert recognizer.detect_emotions(bgr, color_order="bgr") == from_file
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert recognizer.detect_emotions(rgb) == from_file
    with pytest.raises(ValueError, match="color_order"):
        recognizer.detect_emotions(bgr, color_order="brg")


def test_the_readme_shows_the_colour_order_with_cv2_imread():
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    assert 'detect_emotions(cv2.imread("photo.jpg"), color_order="bgr")' in readme


def test_float_crops_in_0_to_1_are_scaled_like_images(recognizer):
    crops = np.random.default_rng(1).integers(0, 256, (5, 48, 48, 1)).astype(np.uint8)
    expected = recognizer.classify(crops)
    np.testing.assert_allclose(recognizer.classify(crops / 255.0), expected, atol=1e-6)
    np.testing.assert_allclose(recognizer.classify(crops.astype(np.float32)), expected,
                               atol=1e-6)
    np.testing.assert_allclose(recognizer.classify(crops.astype(np.int64)), expected, atol=1e-6)
