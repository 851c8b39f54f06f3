"""Face detection with MTCNN and the 48x48 grayscale crops the emotion model expects.

The detector runs on a downscaled copy of large photos (a 6000x4000 picture is searched at
:data:`DETECT_MAX_SIDE_PX` on its longest side) and boxes are mapped back to the original
pixels. Each face is cut as a square around the box centre with a relative margin, without
moving the centre to keep the square inside the image: parts of the square that fall outside
the photo are filled by repeating the edge pixels, so the face is neither shifted nor
stretched. The crop is converted to grayscale and resized with ``cv2.INTER_AREA``, the same
call that resizes FER2013 images in :mod:`emotion_classification.data.fer2013`.

Every image is searched on its own: MTCNN's batched mode gives an image different boxes and
confidences depending on the other images of the batch, and a face's result must not depend
on what it is analysed with. MTCNN's first stage keeps at most
:data:`MAX_PROPOSALS` candidate windows (the most confident), so a very low ``threshold``
cannot make its box-overlap step allocate a matrix of every window against every other, and
the later stages look at :data:`REFINE_CHUNK` windows at a time: memory stays bounded for
every threshold.

With ``align=True`` the square is first rotated about the box centre so that the two eye
landmarks lie on a horizontal line, as faces in FER2013 mostly do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from emotion_classification.labels import IMAGE_SIZE_PX

#: Photos whose longest side exceeds this are searched on a downscaled copy (speed, memory).
DETECT_MAX_SIDE_PX = 1600
#: The MTCNN image pyramid cannot look for faces smaller than its 12-pixel input window.
MTCNN_WINDOW_PX = 12
#: Smallest face searched for, in original-image pixels.
DEFAULT_MIN_FACE_SIZE_PX = 20
#: The largest ``min_face_size`` handed to MTCNN itself. mtcnn 1.0.0 finds no face at all
#: with larger values (its pyramid then starts at scales where P-Net misses; seen on the
#: sample photo and woman2.mp4 at 30, 40 and 80 px), so a larger request searches from here
#: and drops the smaller faces afterwards.
MTCNN_MAX_MIN_FACE_PX = 20
#: Faces below this detector confidence are not reported at all.
DEFAULT_DETECTOR_THRESHOLD = 0.9
#: Detector confidence below which a reported face is "detector-unsure". 0 by default: by
#: reports/uncertainty_rule.txt MTCNN made no false detection at or above the report threshold
#: on the face-free images, and its confidence said nothing about the label
#: (reports/benchmarks/uncertainty.json, docs/model_card.md), so no reported face is flagged
#: for the detector unless a caller asks.
CONFIDENT_DETECTION = 0.0
#: The original study's rule (faces under 0.99 "rejected"), kept to reproduce its figure.
STUDY_CONFIDENT_DETECTION = 0.99
#: Relative margin added on each side of the face box before cropping, when one margin is
#: used: the single margin that frames MTCNN's box most like FER2013's crops, chosen on the
#: validation split by reports/pipeline_gap_rule.txt (the photo-pipeline benchmark;
#: docs/model_card.md). Video cuts faces with it, and training's detection framing copies it.
DEFAULT_MARGIN = 0.05
#: The margins predict and the API cut each face at, their probabilities averaged: evening out
#: MTCNN's box size beat every single margin on validation (the rule's second addendum).
DEFAULT_MARGINS = (0.025, 0.075)
#: The margins video cuts each face at (its per-frame cost and default are set apart).
VIDEO_MARGINS = (DEFAULT_MARGIN,)
#: MTCNN's own first- and second-stage thresholds; lowered only when the final one is lower.
MTCNN_PNET_THRESHOLD = 0.6
MTCNN_RNET_THRESHOLD = 0.7
#: Candidate windows MTCNN's first stage keeps per pyramid scale and in all (the most
#: confident): its overlap matrix is MAX_PROPOSALS squared, about 32 MB per float64 copy.
#: Photos at the default thresholds stay well under it.
MAX_PROPOSALS = 2000
#: Candidate windows MTCNN's second and third networks look at per call (bounds memory).
REFINE_CHUNK = 256
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class FaceBoxError(ValueError):
    """A face box that cannot be cut from its image; ``str(error)`` names the box."""


@dataclass
class Face:
    """One detected face in original-image pixel coordinates.

    ``box`` is ``(x, y, w, h)``; ``landmarks`` maps MTCNN's keypoint names (``left_eye`` is
    the eye on the left of the picture) to ``(x, y)``.
    """

    box: tuple[int, int, int, int]
    confidence: float
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def area_px(self) -> int:
        return self.box[2] * self.box[3]


class FaceDetector:
    """MTCNN with downscaling of large images and boxes returned in original coordinates.

    Args:
        threshold: minimum detector confidence of a reported face (MTCNN's last stage).
        min_face_size: smallest face to look for, in original-image pixels.
        max_side_px: longest side of the copy the detector actually searches.
    """

    def __init__(self, threshold: float = DEFAULT_DETECTOR_THRESHOLD,
                 min_face_size: int = DEFAULT_MIN_FACE_SIZE_PX,
                 max_side_px: int = DETECT_MAX_SIDE_PX):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"detector threshold must be between 0 and 1, got {threshold}")
        if min_face_size < 1:
            raise ValueError(f"minimum face size must be a positive pixel count, got {min_face_size}")
        from mtcnn import MTCNN
        from mtcnn.stages import StageONet, StageRNet

        self.threshold = float(threshold)
        self.min_face_size = int(min_face_size)
        self.max_side_px = int(max_side_px)
        refine = [StageRNet(), StageONet()]
        for stage in refine:
            stage._model = ChunkedNetwork(stage._model, REFINE_CHUNK)
        self._mtcnn = MTCNN(stages=[capped_proposal_stage(), *refine])

    def detection_scale(self, shape: tuple[int, ...]) -> float:
        """Factor (<= 1) applied to an image of this shape before detection."""
        return min(1.0, self.max_side_px / max(shape[0], shape[1]))

    def _mtcnn_kwargs(self, scale: float) -> dict:
        """Stage thresholds and the pyramid's smallest face, in detection-image pixels."""
        return {
            "min_face_size": max(MTCNN_WINDOW_PX, round(min(self.min_face_size * scale,
                                                            MTCNN_MAX_MIN_FACE_PX))),
            "threshold_pnet": min(MTCNN_PNET_THRESHOLD, self.threshold),
            "threshold_rnet": min(MTCNN_RNET_THRESHOLD, self.threshold),
            "threshold_onet": self.threshold,
        }

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in one RGB uint8 image, in original-image pixels."""
        scale = self.detection_scale(rgb.shape)
        small_side_px = min(rgb.shape[0], rgb.shape[1]) * scale
        if small_side_px < max(MTCNN_WINDOW_PX, self.min_face_size * scale):
            return []  # too small to hold a face of the requested size
        image = rgb
        if scale < 1.0:
            size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
            image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        detections = self._mtcnn.detect_faces([image], **self._mtcnn_kwargs(scale))[0]
        faces = [to_face(d, scale, rgb.shape) for d in detections
                 if d["confidence"] >= self.threshold]
        if self.min_face_size <= MTCNN_MAX_MIN_FACE_PX:
            return faces  # MTCNN itself searched from the requested size
        return [face for face in faces if max(face.box[2], face.box[3]) >= self.min_face_size]

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Faces in several RGB uint8 images, each searched on its own (see the module)."""
        return [self.detect(image) for image in images]


class ChunkedNetwork:
    """Calls an MTCNN network on at most ``chunk`` candidate windows at a time.

    MTCNN feeds all candidates of an image to its refining networks at once; on thousands of
    windows their activations alone take gigabytes. Chunking keeps that bounded.
    """

    def __init__(self, network, chunk: int):
        self.network = network
        self.chunk = chunk

    def __call__(self, patches):
        count = patches.shape[0]
        if count <= self.chunk:
            return self.network(patches)
        import tensorflow as tf

        parts = [self.network(patches[start:start + self.chunk])
                 for start in range(0, count, self.chunk)]
        return tuple(tf.concat(outputs, axis=0) for outputs in zip(*parts, strict=True))


def capped_proposal_stage():
    """MTCNN's first stage (PNet) keeping only the :data:`MAX_PROPOSALS` best windows.

    The same steps as ``mtcnn.stages.StagePNet`` (mtcnn 1.0), with a cap before each of its
    two overlap (NMS) steps; below the cap the result is identical.
    """
    from mtcnn.stages import StagePNet
    from mtcnn.utils.bboxes import (
        generate_bounding_box,
        resize_to_square,
        smart_nms_from_bboxes,
        upscale_bboxes,
    )
    from mtcnn.utils.images import apply_scales, build_scale_pyramid

    class CappedPNet(StagePNet):
        def __call__(self, images_normalized, images_oshapes, min_face_size=20, min_size=12,
                     scale_factor=0.709, threshold_pnet=0.6, nms_pnet1=0.5, nms_pnet2=0.7,
                     **kwargs):
            scales_groups = [build_scale_pyramid(shape[1], shape[0], min_face_size=min_face_size,
                                                 scale_factor=scale_factor)
                             for shape in images_oshapes]
            scaled, scales = apply_scales(images_normalized, scales_groups)
            batch_size = images_normalized.shape[0]
            per_scale = []
            for image, scale in zip(scaled, scales, strict=True):
                regression, scores = self._model(image)
                boxes = generate_bounding_box(regression, scores, threshold_pnet)
                boxes = upscale_bboxes(boxes[:MAX_PROPOSALS], np.asarray([scale] * batch_size))
                per_scale.append(smart_nms_from_bboxes(boxes, threshold=nms_pnet1,
                                                       method="union", initial_sort=False))
            boxes = np.concatenate(per_scale, axis=0) if per_scale else np.empty((0, 6))
            if len(boxes) > MAX_PROPOSALS:
                boxes = boxes[np.argsort(-boxes[:, 5], kind="stable")[:MAX_PROPOSALS]]
            boxes = smart_nms_from_bboxes(boxes, threshold=nms_pnet2, method="union",
                                          initial_sort=True)
            return resize_to_square(boxes)

    return CappedPNet()


def to_face(detection: dict, scale: float, shape: tuple[int, ...]) -> Face:
    """Convert one MTCNN result from detection-image to original-image pixels."""
    height, width = shape[:2]
    x, y, w, h = (float(v) / scale for v in detection["box"])
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    landmarks = {name: (float(detection["keypoints"][name][0]) / scale,
                        float(detection["keypoints"][name][1]) / scale)
                 for name in LANDMARK_NAMES if name in detection.get("keypoints", {})}
    return Face(box=(x0, y0, max(1, x1 - x0), max(1, y1 - y0)),
                confidence=float(detection["confidence"]), landmarks=landmarks)


def clip_box(box, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` cut to an image of ``shape``: the part of the box inside the image.

    Raises :class:`FaceBoxError` naming the box when it is not four numbers, has no width or
    height, or lies wholly outside the image: such a box holds no face to classify, and
    slicing with it would take pixels from elsewhere or none at all.
    """
    try:
        x, y, w, h = (int(value) for value in box)
    except (TypeError, ValueError, OverflowError):
        raise FaceBoxError(f"face box {box!r}: expected four whole numbers (x, y, w, h)"
                           ) from None
    if w <= 0 or h <= 0:
        raise FaceBoxError(f"face box {(x, y, w, h)}: width and height must be positive")
    height, width = shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x1 <= x0 or y1 <= y0:
        raise FaceBoxError(f"face box {(x, y, w, h)}: wholly outside the {width}x{height} "
                           "image")
    return x0, y0, x1 - x0, y1 - y0


def square_around(box: tuple[int, int, int, int], margin: float = DEFAULT_MARGIN
                  ) -> tuple[float, float, int]:
    """Centre ``(cx, cy)`` and side of the square holding the box plus ``margin`` each side."""
    x, y, w, h = box
    side = max(1, round(max(w, h) * (1 + 2 * margin)))
    return x + w / 2, y + h / 2, side


def crop_margins(margin: float | Sequence[float]) -> tuple[float, ...]:
    """The margins a ``margin`` argument names, smallest first (one number, or several)."""
    margins = (margin,) if np.isscalar(margin) else tuple(margin)
    if not margins or any(not 0 <= float(value) < 1 for value in margins):
        raise ValueError(f"margin must be one or more numbers from 0 to under 1, got {margin!r}")
    return tuple(sorted(float(value) for value in margins))


def shown_index(margins: Sequence[float]) -> int:
    """Where, in margins sorted smallest first, is the one crop kept to show a face cut at
    several: the middle one (of two, the larger)."""
    return len(margins) // 2


def shown_margin(margins: Sequence[float]) -> float:
    """The margin of the crop kept to show a face (:func:`shown_index`)."""
    return sorted(margins)[shown_index(margins)]


def mean_over_margins(classify, crops_by_margin: np.ndarray | Sequence[np.ndarray]
                      ) -> np.ndarray:
    """Mean probabilities of the same faces cut at each of several margins (one
    ``(N, 48, 48, 1)`` array per margin, faces in the same order), from one ``classify``
    call on all the cuts: each classifier call has a fixed cost, larger than a few faces'
    work."""
    faces = len(crops_by_margin[0])
    probs = classify(np.concatenate(list(crops_by_margin)))
    return probs.reshape(len(crops_by_margin), faces, probs.shape[-1]).mean(axis=0)


def crop_box(box: tuple[int, int, int, int], shape: tuple[int, ...],
             margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
    """The margin square as ``(x, y, w, h)``, clipped to the image (centre not moved)."""
    cx, cy, side = square_around(box, margin)
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    x1, y1 = min(shape[1], x0 + side), min(shape[0], y0 + side)
    x0, y0 = max(0, x0), max(0, y0)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def eye_angle_deg(face: Face) -> float:
    """Angle of the line from the picture-left eye to the picture-right eye (0 = level)."""
    if "left_eye" not in face.landmarks or "right_eye" not in face.landmarks:
        return 0.0
    (lx, ly), (rx, ry) = face.landmarks["left_eye"], face.landmarks["right_eye"]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def square_crop(image: np.ndarray, face: Face, margin: float = DEFAULT_MARGIN,
                align: bool = False) -> np.ndarray:
    """The face's margin square from ``image`` (any channel count), edge pixels repeated outside.

    With ``align`` the square is rotated about its centre so the eyes are level. The result
    has the original resolution; :func:`model_crop` resizes it for the classifier.
    """
    cx, cy, side = square_around(face.box, margin)
    angle = eye_angle_deg(face) if align else 0.0
    if angle == 0.0:
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        sx0, sy0 = max(0, x0), max(0, y0)
        sx1, sy1 = min(image.shape[1], x0 + side), min(image.shape[0], y0 + side)
        if sx1 <= sx0 or sy1 <= sy0:  # an empty crop would crash OpenCV's border filling
            raise FaceBoxError(f"face box {tuple(face.box)}: wholly outside the "
                               f"{image.shape[1]}x{image.shape[0]} image")
        crop = image[sy0:sy1, sx0:sx1]
        pads = (sy0 - y0, y0 + side - sy1, sx0 - x0, x0 + side - sx1)
        if any(pads):
            crop = cv2.copyMakeBorder(crop, *pads, borderType=cv2.BORDER_REPLICATE)
        return crop
    # Rotate about the box centre (OpenCV: positive angle = counter-clockwise on screen),
    # then move that centre to the middle of a side x side output.
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    matrix[0, 2] += side / 2 - cx
    matrix[1, 2] += side / 2 - cy
    return cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def template_crop(image: np.ndarray, face: Face, template: np.ndarray) -> np.ndarray | None:
    """The face cut so its five landmarks land on ``template`` (FER2013's layout), 48x48.

    ``template`` is ``(5, 2)``: each landmark's place inside FER2013's frame as a fraction of
    its side. The similarity transform (scale, rotation, shift) is fitted by least squares
    over the landmarks, the face is resampled at its own resolution (no detail invented or
    thrown away before the final ``INTER_AREA`` resize, as in :func:`model_crop`). ``None``
    when the face lacks landmarks or the fit fails.
    """
    if any(name not in face.landmarks for name in LANDMARK_NAMES):
        return None
    points = np.array([face.landmarks[name] for name in LANDMARK_NAMES], np.float32)
    side_px = max(IMAGE_SIZE_PX, round(max(face.box[2], face.box[3])))
    target = (np.asarray(template, np.float32) * side_px).astype(np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(points, target, method=cv2.LMEDS)
    if matrix is None:
        return None
    frame = cv2.warpAffine(image, matrix, (side_px, side_px), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(frame, (IMAGE_SIZE_PX, IMAGE_SIZE_PX), interpolation=cv2.INTER_AREA)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 to single-channel uint8 (ITU-R 601 weights, as OpenCV's grayscale decode)."""
    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def model_crop(gray: np.ndarray, face: Face, margin: float = DEFAULT_MARGIN,
               align: bool = False) -> np.ndarray:
    """The ``(48, 48)`` uint8 classifier input for one face of a grayscale image."""
    crop = square_crop(gray, face, margin, align)
    return cv2.resize(crop, (IMAGE_SIZE_PX, IMAGE_SIZE_PX), interpolation=cv2.INTER_AREA)


def margin_crops(gray: np.ndarray, faces: list[Face], margins: Sequence[float],
                 align: bool = False) -> np.ndarray:
    """All faces of one grayscale image cut at each margin: ``(margins, N, 48, 48, 1)``
    uint8."""
    if not faces:
        return np.zeros((len(margins), 0, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1), np.uint8)
    return np.stack([[model_crop(gray, face, margin, align) for face in faces]
                     for margin in margins])[..., None]


def model_crops(rgb: np.ndarray, faces: list[Face], margin: float = DEFAULT_MARGIN,
                align: bool = False) -> np.ndarray:
    """All faces of one RGB image as a ``(N, 48, 48, 1)`` uint8 batch."""
    if not faces:
        return np.zeros((0, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1), np.uint8)
    gray = to_gray(rgb)
    return np.stack([model_crop(gray, face, margin, align) for face in faces])[..., None]
