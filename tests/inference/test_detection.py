"""Face crops and box geometry: squares around the box centre, edges, scaling, alignment."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_classification.inference.detection import (
    DETECT_MAX_SIDE_PX,
    MTCNN_MAX_MIN_FACE_PX,
    Face,
    FaceDetector,
    crop_box,
    eye_angle_deg,
    model_crop,
    model_crops,
    square_around,
    square_crop,
    to_face,
)


def gradient_image(height: int = 200, width: int = 300) -> np.ndarray:
    """A gray image whose pixel values encode their position (to detect any shift)."""
    ys, xs = np.mgrid[0:height, 0:width]
    return ((xs + 3 * ys) % 256).astype(np.uint8)


def test_square_is_centred_on_the_box_with_margin():
    cx, cy, side = square_around((10, 20, 40, 60), margin=0.1)
    assert (cx, cy) == (30.0, 50.0)
    assert side == 72  # the longer side, 60, plus 10% each side


def test_crop_box_is_clipped_but_not_shifted():
    # A face at the top-left corner: the square pokes out of the image on two sides.
    x, y, w, h = crop_box((0, 0, 40, 40), (100, 100), margin=0.25)
    assert (x, y) == (0, 0)
    assert (w, h) == (50, 50)  # square of 60 centred on (20, 20): [-10, 50) clipped to [0, 50)
    assert crop_box((30, 30, 20, 20), (100, 100), margin=0.0) == (30, 30, 20, 20)


def test_square_crop_inside_image_is_the_exact_pixels():
    gray = gradient_image()
    crop = square_crop(gray, Face((50, 60, 40, 40), 1.0), margin=0.0)
    np.testing.assert_array_equal(crop, gray[60:100, 50:90])


def test_square_crop_at_the_edge_keeps_the_face_in_place():
    gray = gradient_image()
    face = Face((0, 0, 40, 40), 1.0)
    crop = square_crop(gray, face, margin=0.25)  # side 60, starts at (-10, -10)
    assert crop.shape == (60, 60)
    # The image's pixel (0, 0) sits at (10, 10) in the crop: nothing was shifted.
    np.testing.assert_array_equal(crop[10:, 10:], gray[0:50, 0:50])
    # Outside the image the edge pixels are repeated.
    np.testing.assert_array_equal(crop[0, 10:], gray[0, 0:50])


def test_model_crop_is_inter_area_resize_of_the_gray_square():
    gray = gradient_image()
    face = Face((50, 60, 96, 96), 1.0)
    expected = cv2.resize(gray[60:156, 50:146], (48, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(model_crop(gray, face, margin=0.0), expected)


def test_model_crops_batch_shape_and_gray_conversion():
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[..., 0] = 255  # pure red -> 0.299 * 255 in grayscale (ITU-R 601, as OpenCV)
    crops = model_crops(rgb, [Face((10, 10, 30, 30), 1.0), Face((50, 50, 40, 40), 1.0)])
    assert crops.shape == (2, 48, 48, 1) and crops.dtype == np.uint8
    assert np.all(crops == 76)
    assert model_crops(rgb, []).shape == (0, 48, 48, 1)


def test_eye_alignment_levels_the_eyes():
    gray = np.zeros((200, 200), np.uint8)
    left, right = (80, 80), (120, 110)  # right eye lower: head tilted
    cv2.circle(gray, left, 4, 255, -1)
    cv2.circle(gray, right, 4, 255, -1)
    face = Face((60, 60, 80, 80), 1.0, {"left_eye": left, "right_eye": right})
    assert eye_angle_deg(face) == pytest.approx(np.degrees(np.arctan2(30, 40)))
    aligned = square_crop(gray, face, margin=0.0, align=True)
    spots = cv2.connectedComponentsWithStats((aligned > 128).astype(np.uint8))[3][1:]
    assert len(spots) == 2
    assert abs(spots[0][1] - spots[1][1]) < 1.5  # same row after alignment
    assert abs(abs(spots[0][0] - spots[1][0]) - 50) < 2  # eye distance kept (3-4-5 triangle)
    # Without landmarks alignment is a no-op.
    plain = Face((60, 60, 80, 80), 1.0)
    np.testing.assert_array_equal(square_crop(gray, plain, 0.0, align=True),
                                  square_crop(gray, plain, 0.0))


def test_to_face_maps_detection_pixels_back_to_the_original():
    detection = {"box": [100, 50, 40, 60], "confidence": 0.995,
                 "keypoints": {"left_eye": [110, 70], "right_eye": [130, 70], "nose": [120, 80],
                               "mouth_left": [112, 95], "mouth_right": [128, 95]}}
    face = to_face(detection, scale=0.25, shape=(4000, 6000, 3))
    assert face.box == (400, 200, 160, 240)
    assert face.landmarks["right_eye"] == (520.0, 280.0)
    assert isinstance(face.confidence, float)


class FakeMTCNN:
    """Records what the detector was given and answers one face per image."""

    def __init__(self):
        self.calls = []

    def detect_faces(self, images, **kwargs):
        self.calls.append(([image.shape for image in images], kwargs))
        return [[{"box": [10, 20, 30, 40], "confidence": 0.999, "keypoints": {}}]
                for _ in images]


def test_large_images_are_downscaled_for_detection_and_boxes_mapped_back():
    detector = FaceDetector(threshold=0.9, min_face_size=40)
    detector._mtcnn = fake = FakeMTCNN()
    big = np.zeros((4000, 6000, 3), np.uint8)
    small = np.zeros((300, 400, 3), np.uint8)
    faces = detector.detect_batch([big, small, small])
    assert len(fake.calls) == 3  # one image per call: a face never depends on its batch
    (shapes_big, kwargs_big), (shapes_small, kwargs_small), _ = fake.calls
    assert shapes_big == [(round(4000 * DETECT_MAX_SIDE_PX / 6000), DETECT_MAX_SIDE_PX, 3)]
    assert shapes_small == [(300, 400, 3)]
    scale = 6000 / DETECT_MAX_SIDE_PX
    assert faces[0][0].box == (round(10 * scale), round(20 * scale), round(30 * scale),
                               round(40 * scale))
    assert faces[1][0].box == (10, 20, 30, 40)
    # mtcnn 1.0.0 finds nothing above 20 px: it searches from there, and we filter
    assert kwargs_small["min_face_size"] == MTCNN_MAX_MIN_FACE_PX
    assert kwargs_small["threshold_onet"] == 0.9
    assert kwargs_big["min_face_size"] == 12  # 40 px at 0.27 scale is below MTCNN's window


def test_a_larger_minimum_face_size_still_finds_the_large_faces():
    from emotion_classification.inference.images import read_image, sample_photo

    rgb = read_image(sample_photo())  # one face, about 173x220 px
    boxes = {size: [face.box for face in FaceDetector(min_face_size=size).detect(rgb)]
             for size in (20, 40, 80, 300)}
    assert len(boxes[20]) == 1
    assert boxes[40] == boxes[80] == boxes[20]
    assert boxes[300] == []


def test_images_smaller_than_a_face_are_skipped():
    detector = FaceDetector(min_face_size=20)
    detector._mtcnn = fake = FakeMTCNN()
    assert detector.detect(np.zeros((10, 10, 3), np.uint8)) == []
    assert fake.calls == []


def test_bad_detector_settings_are_rejected():
    with pytest.raises(ValueError, match="threshold"):
        FaceDetector(threshold=1.5)
    with pytest.raises(ValueError, match="minimum face size"):
        FaceDetector(min_face_size=0)


def test_threshold_zero_keeps_mtcnn_candidates_capped(monkeypatch):
    """At threshold 0 every window is a candidate; no overlap step sees more than the cap."""
    import mtcnn.stages.stage_onet as onet
    import mtcnn.stages.stage_rnet as rnet
    from made_files import group_rgb
    from mtcnn.utils import bboxes

    from emotion_classification.inference import detection

    sizes = []
    original = bboxes.smart_nms_from_bboxes

    def spy(boxes, *args, **kwargs):
        sizes.append(len(boxes))
        return original(boxes, *args, **kwargs)

    for module in (bboxes, rnet, onet):
        monkeypatch.setattr(module, "smart_nms_from_bboxes", spy)
    monkeypatch.setattr(detection, "MAX_PROPOSALS", 300)
    faces = FaceDetector(threshold=0.0).detect(group_rgb())
    assert len(sizes) >= 3 and max(sizes) <= 300
    assert len(faces) >= 6 and all(0.0 <= face.confidence <= 1.0 for face in faces)


def test_refining_networks_see_candidates_in_chunks():
    calls = []

    def network(patches):
        calls.append(len(patches))
        return (patches[:, :1] * 2, patches[:, 1:2])

    import numpy as np
    import tensorflow as tf

    from emotion_classification.inference.detection import ChunkedNetwork

    patches = tf.constant(np.arange(20, dtype=np.float32).reshape(10, 2))
    first, second = ChunkedNetwork(network, 4)(patches)
    assert calls == [4, 4, 2]
    np.testing.assert_array_equal(first.numpy()[:, 0], np.arange(0, 20, 2) * 2)
    np.testing.assert_array_equal(second.numpy()[:, 0], np.arange(1, 20, 2))


def test_default_margins_follow_the_photo_pipeline_rule():
    """predict's margins are what reports/pipeline_gap_rule.txt decides for the shipped model,
    as the committed benchmark record says: the validation choice when the rule adopts it,
    otherwise the default the record measured."""
    import json

    from emotion_classification.inference.detection import DEFAULT_MARGINS
    from emotion_classification.utils.files import project_root

    report = json.loads((project_root() / "reports/benchmarks/pipeline_gap.json").read_text())
    default = {"margins": list(DEFAULT_MARGINS), "align": False}
    assert report["predict_default"] == default
    if report["default_decision"]["adopted"]:
        assert report["chosen_on_validation"] == default


def test_margin_crops_are_model_crops_at_each_margin():
    from emotion_classification.inference.detection import margin_crops

    gray = gradient_image()
    faces = [Face((40, 50, 60, 70), 1.0), Face((150, 20, 50, 50), 1.0)]
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    crops = margin_crops(gray, faces, (0.0, 0.1))
    assert crops.shape == (2, 2, 48, 48, 1)
    for index, margin in enumerate((0.0, 0.1)):
        np.testing.assert_array_equal(crops[index], model_crops(rgb, faces, margin))
    assert margin_crops(gray, [], (0.0, 0.1)).shape == (2, 0, 48, 48, 1)
