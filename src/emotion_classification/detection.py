"""Face detection with MTCNN and the 48x48 grayscale crops the emotion model expects.

The detector runs on a downscaled copy of large photos (a 6000x4000 picture is searched at
:data:`DETECT_MAX_SIDE_PX` on its longest side) and boxes are mapped back to the original
pixels. Each face is cut as a square around the box centre with a relative margin, without
moving the centre to keep the square inside the image: parts of the square that fall outside
the photo are filled by repeating the edge pixels, so the face is neither shifted nor
stretched. The crop is converted to grayscale and resized with ``cv2.INTER_AREA``, the same
call that resizes FER2013 images in :mod:`emotion_classification.data`.

With ``align=True`` the square is first rotated about the box centre so that the two eye
landmarks lie on a horizontal line, as faces in FER2013 mostly do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from emotion_classification.data import IMAGE_SIZE_PX

#: Photos whose longest side exceeds this are searched on a downscaled copy (speed, memory).
DETECT_MAX_SIDE_PX = 1600
#: The MTCNN image pyramid cannot look for faces smaller than its 12-pixel input window.
MTCNN_WINDOW_PX = 12
#: Smallest face searched for, in original-image pixels.
DEFAULT_MIN_FACE_SIZE_PX = 20
#: Faces below this detector confidence are not reported at all.
DEFAULT_DETECTOR_THRESHOLD = 0.9
#: The original study's rule: faces below this detector confidence are "rejected" (uncertain).
CONFIDENT_DETECTION = 0.99
#: Relative margin added on each side of the face box before cropping (the study used 10%).
DEFAULT_MARGIN = 0.1
#: MTCNN's own first- and second-stage thresholds; lowered only when the final one is lower.
MTCNN_PNET_THRESHOLD = 0.6
MTCNN_RNET_THRESHOLD = 0.7
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


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

        self.threshold = float(threshold)
        self.min_face_size = int(min_face_size)
        self.max_side_px = int(max_side_px)
        self._mtcnn = MTCNN()

    def detection_scale(self, shape: tuple[int, ...]) -> float:
        """Factor (<= 1) applied to an image of this shape before detection."""
        return min(1.0, self.max_side_px / max(shape[0], shape[1]))

    def _mtcnn_kwargs(self, scale: float) -> dict:
        """Stage thresholds and the pyramid's smallest face, in detection-image pixels."""
        return {
            "min_face_size": max(MTCNN_WINDOW_PX, round(self.min_face_size * scale)),
            "threshold_pnet": min(MTCNN_PNET_THRESHOLD, self.threshold),
            "threshold_rnet": min(MTCNN_RNET_THRESHOLD, self.threshold),
            "threshold_onet": self.threshold,
        }

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in one RGB uint8 image, largest confidence first."""
        return self.detect_batch([rgb])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Faces in several RGB uint8 images; same-sized images share one MTCNN call.

        Video frames all have one size, so a batch of frames is one pass through each MTCNN
        stage. Photos of different sizes are grouped by size (MTCNN pads a batch to its
        largest member, which would waste work on small photos).
        """
        results: list[list[Face]] = [[] for _ in images]
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(image.shape, []).append(index)
        for shape, indices in groups.items():
            for index, faces in zip(indices, self._detect_same_size([images[i] for i in indices],
                                                                    shape), strict=True):
                results[index] = faces
        return results

    def _detect_same_size(self, images: list[np.ndarray], shape: tuple[int, ...]) -> list[list[Face]]:
        scale = self.detection_scale(shape)
        small_side_px = min(shape[0], shape[1]) * scale
        if small_side_px < max(MTCNN_WINDOW_PX, self.min_face_size * scale):
            return [[] for _ in images]  # too small to hold a face of the requested size
        if scale < 1.0:
            size = (max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale)))
            images = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images]
        detections = self._mtcnn.detect_faces(list(images), **self._mtcnn_kwargs(scale))
        return [[to_face(d, scale, shape) for d in per_image if d["confidence"] >= self.threshold]
                for per_image in detections]


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


def square_around(box: tuple[int, int, int, int], margin: float = DEFAULT_MARGIN
                  ) -> tuple[float, float, int]:
    """Centre ``(cx, cy)`` and side of the square holding the box plus ``margin`` each side."""
    x, y, w, h = box
    side = max(1, round(max(w, h) * (1 + 2 * margin)))
    return x + w / 2, y + h / 2, side


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


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 to single-channel uint8 (ITU-R 601 weights, as OpenCV's grayscale decode)."""
    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def model_crop(gray: np.ndarray, face: Face, margin: float = DEFAULT_MARGIN,
               align: bool = False) -> np.ndarray:
    """The ``(48, 48)`` uint8 classifier input for one face of a grayscale image."""
    crop = square_crop(gray, face, margin, align)
    return cv2.resize(crop, (IMAGE_SIZE_PX, IMAGE_SIZE_PX), interpolation=cv2.INTER_AREA)


def model_crops(rgb: np.ndarray, faces: list[Face], margin: float = DEFAULT_MARGIN,
                align: bool = False) -> np.ndarray:
    """All faces of one RGB image as a ``(N, 48, 48, 1)`` uint8 batch."""
    if not faces:
        return np.zeros((0, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1), np.uint8)
    gray = to_gray(rgb)
    return np.stack([model_crop(gray, face, margin, align) for face in faces])[..., None]
