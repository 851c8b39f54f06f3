"""What a real photo costs: FER2013 faces put back into a photo and run through the pipeline.

The classifier is scored on FER2013's 48x48 crops, but ``predict`` sees whole photos: MTCNN
finds the face, a square around its box is cut with a margin and resized to 48x48. Two things
can go wrong on the way, and this module measures each separately:

- **detection**: MTCNN may not find the face at all;
- **framing**: the square cut around MTCNN's box may frame the face differently from the way
  FER2013 framed it (bigger, smaller, shifted), and the model only knows FER2013's framing.

Each face is enlarged (:data:`UPSCALE`) and set in a border (:data:`BORDER_FRACTION` of its
side on every side, edge pixels repeated) so that it looks like a face in a photo, and the
place of the original 48x48 frame in that canvas is known. Detections are kept only when their
centre lies near the frame's centre (the face we put there, not a phantom in the border).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from emotion_classification.inference.detection import (
    LANDMARK_NAMES,
    Face,
    FaceDetector,
    margin_crops,
    model_crops,
    template_crop,
    to_gray,
)
from emotion_classification.labels import IMAGE_SIZE_PX
from emotion_classification.utils.files import atomic_output, project_path

#: Each 48x48 face is enlarged this many times (192 px: a face in a photo, not a thumbnail).
UPSCALE = 4
#: Border added on every side, as a fraction of the enlarged face's side.
BORDER_FRACTION = 0.5
#: MTCNN's results on planted faces are cached here, keyed by the images' bytes.
DETECTION_CACHE_DIR = "outputs/pipeline_gap"
#: A detection counts as the planted face when its centre is within this fraction of the
#: frame's side from the frame's centre.
CENTRE_TOLERANCE = 0.25


@dataclass
class Frame:
    """Where the original FER2013 image lies in its canvas: top-left corner and side, px."""

    x: int
    y: int
    side: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.side / 2, self.y + self.side / 2


def planted_frame(upscale: int = UPSCALE, border_fraction: float = BORDER_FRACTION) -> Frame:
    """Where :func:`embed_in_photo` puts the enlarged face in its canvas."""
    side = IMAGE_SIZE_PX * upscale
    border = round(side * border_fraction)
    return Frame(border, border, side)


def embed_in_photo(gray: np.ndarray, upscale: int = UPSCALE,
                   border_fraction: float = BORDER_FRACTION) -> tuple[np.ndarray, Frame]:
    """A grayscale 48x48 face enlarged and bordered into an RGB "photo", and its frame."""
    frame = planted_frame(upscale, border_fraction)
    big = cv2.resize(np.squeeze(gray), (frame.side, frame.side), interpolation=cv2.INTER_CUBIC)
    canvas = cv2.copyMakeBorder(big, frame.y, frame.y, frame.x, frame.x, cv2.BORDER_REPLICATE)
    return np.repeat(canvas[..., None], 3, axis=-1), frame


def planted_face(faces: list[Face], frame: Frame) -> Face | None:
    """The detection that is the planted face: centre near the frame's, most confident."""
    cx, cy = frame.centre
    limit_px = frame.side * CENTRE_TOLERANCE
    near = [face for face in faces
            if abs(face.box[0] + face.box[2] / 2 - cx) <= limit_px
            and abs(face.box[1] + face.box[3] / 2 - cy) <= limit_px]
    return max(near, key=lambda face: face.confidence) if near else None


def detect_planted_faces(images: np.ndarray, detector: FaceDetector, upscale: int = UPSCALE,
                         border_fraction: float = BORDER_FRACTION,
                         desc: str = "detecting") -> list[Face | None]:
    """MTCNN on every embedded image; ``None`` where the planted face was not found."""
    found = []
    for gray in tqdm(images, desc=desc, unit="face", mininterval=5.0):
        rgb, frame = embed_in_photo(gray, upscale, border_fraction)
        found.append(planted_face(detector.detect(rgb), frame))
    return found


def pipeline_crops(images: np.ndarray, faces: list[Face | None], margin: float,
                   align: bool = False, upscale: int = UPSCALE,
                   border_fraction: float = BORDER_FRACTION) -> np.ndarray:
    """The 48x48 classifier inputs ``predict`` would cut for the detected faces, in order."""
    return pipeline_margin_crops(images, faces, (margin,), align, upscale, border_fraction)[0]


def pipeline_margin_crops(images: np.ndarray, faces: list[Face | None],
                          margins: Sequence[float], align: bool = False,
                          upscale: int = UPSCALE,
                          border_fraction: float = BORDER_FRACTION) -> np.ndarray:
    """:func:`pipeline_crops` at each of ``margins``: ``(margins, detected, 48, 48, 1)`` uint8,
    each face planted in its photo once for all margins."""
    per_face = []
    for gray, face in zip(images, faces, strict=True):
        if face is not None:
            rgb, _ = embed_in_photo(gray, upscale, border_fraction)
            per_face.append(margin_crops(to_gray(rgb), [face], margins, align))
    if not per_face:
        return np.zeros((len(margins), 0, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1), np.uint8)
    return np.concatenate(per_face, axis=1)


def box_geometry(faces: list[Face | None], frame: Frame) -> np.ndarray:
    """Per detected face: centre offset (x, y) and size (w, h), relative to the frame's side.

    Zero offset and ``max(w, h) == 1`` would mean MTCNN's box is exactly FER2013's frame.
    """
    (cx, cy), side = frame.centre, frame.side
    rows = [((x + w / 2 - cx) / side, (y + h / 2 - cy) / side, w / side, h / side)
            for x, y, w, h in (face.box for face in faces if face is not None)]
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def faces_to_array(faces: list[Face | None]) -> np.ndarray:
    """Detections as an ``(N, 15)`` float array (NaN rows for misses), for caching."""
    rows = []
    for face in faces:
        if face is None:
            rows.append([np.nan] * 15)
            continue
        points = [v for name in LANDMARK_NAMES
                  for v in face.landmarks.get(name, (np.nan, np.nan))]
        rows.append([*face.box, face.confidence, *points])
    return np.array(rows, dtype=np.float64).reshape(-1, 15)


def faces_from_array(array: np.ndarray) -> list[Face | None]:
    """Inverse of :func:`faces_to_array`."""
    faces = []
    for row in array:
        if np.isnan(row[0]):
            faces.append(None)
            continue
        landmarks = {name: (float(row[5 + 2 * i]), float(row[6 + 2 * i]))
                     for i, name in enumerate(LANDMARK_NAMES) if not np.isnan(row[5 + 2 * i])}
        faces.append(Face(box=tuple(int(v) for v in row[:4]), confidence=float(row[4]),
                          landmarks=landmarks))
    return faces


def landmark_template(faces: list[Face | None], frame: Frame) -> np.ndarray:
    """FER2013's mean five-landmark layout: each landmark's median place in the frame, as a
    fraction of its side (``(5, 2)``), from the detections of planted faces."""
    from emotion_classification.inference.detection import LANDMARK_NAMES

    rows = [[((face.landmarks[name][0] - frame.x) / frame.side,
              (face.landmarks[name][1] - frame.y) / frame.side) for name in LANDMARK_NAMES]
            for face in faces
            if face is not None and all(name in face.landmarks for name in LANDMARK_NAMES)]
    return np.median(np.array(rows, np.float64), axis=0)


def template_crops(images: np.ndarray, faces: list[Face | None], template: np.ndarray,
                   fallback_margin: float, upscale: int = UPSCALE,
                   border_fraction: float = BORDER_FRACTION) -> np.ndarray:
    """Template-framed 48x48 crops of the detected faces (a margin square where the landmark
    fit fails), in order."""
    crops = []
    for gray, face in zip(images, faces, strict=True):
        if face is None:
            continue
        rgb, _ = embed_in_photo(gray, upscale, border_fraction)
        crop = template_crop(to_gray(rgb), face, template)
        crops.append(crop[..., None] if crop is not None
                     else model_crops(rgb, [face], fallback_margin)[0])
    return np.stack(crops) if crops else np.zeros((0, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1),
                                                  np.uint8)


def cached_detections(name: str, images: np.ndarray,
                      detector: FaceDetector | None = None) -> list[Face | None]:
    """MTCNN's planted-face detections for ``images``, from the cache when it holds them (the
    detector is the slow part, and the benchmarks rerun on the same faces). ``detector`` is
    used only on a cache miss; without one, a default ``FaceDetector`` is built then."""
    key = hashlib.sha256(images.tobytes()).hexdigest()[:16]
    path = project_path(DETECTION_CACHE_DIR) / f"{name}-{UPSCALE}x-{BORDER_FRACTION}-{key}.npz"
    if path.is_file():
        return faces_from_array(np.load(path)["faces"])
    faces = detect_planted_faces(images, detector or FaceDetector(), desc=f"MTCNN on {name}")
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, faces=faces_to_array(faces))
    return faces
