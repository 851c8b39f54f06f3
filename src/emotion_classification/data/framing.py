"""Detection framing: training faces cut the way ``predict`` cuts a face out of a photo.

FER2013's faces are framed by hand; in a photo the model sees MTCNN's box instead, squared
with a margin, resampled from a larger picture and usually JPEG-compressed. MTCNN's box moves
and changes size from face to face (its "jitter"), which the fixed FER2013 framing never
shows the model. This step reproduces that path on a training face:

1. the 48x48 face is enlarged 4x (cubic) and set in a border of repeated edge pixels, as the
   photo-pipeline benchmark plants faces in photos;
2. a box is drawn around it with MTCNN's measured offset and size relative to FER2013's frame
   (:data:`BOX_CENTRE_SD`, :data:`BOX_WIDTH`, :data:`BOX_HEIGHT`: the spread of MTCNN's boxes
   on planted validation faces, ``reports/benchmarks/pipeline_gap.json``, ``box_vs_frame``);
3. the margin square around the box is cut and shrunk to 48x48 with area averaging, as
   ``predict`` does;
4. a mild Gaussian blur and a JPEG round trip at a random quality follow.

:func:`detected_framed_epoch` uses MTCNN's real crops of the training faces instead of drawn
boxes (``--framing mtcnn``): its errors depend on the face, which independent draws do not
reproduce. Steps 1-3 are then predict's own, done once before training; step 4 is drawn.

It runs in NumPy and OpenCV on the epoch's images before they reach the model, so it works
with every Keras backend, and its draws come from ``(seed, epoch)`` so a resumed epoch frames
the same faces the same way.
"""

from __future__ import annotations

import cv2
import numpy as np

from emotion_classification.labels import IMAGE_SIZE_PX

#: MTCNN's box against FER2013's frame on planted validation faces: the centre's offset
#: (standard deviation, fraction of the frame's side, x and y), and width and height (median
#: and standard deviation, fractions of the side). Standard deviations are IQR / 1.349.
BOX_CENTRE_SD = (0.052, 0.044)
BOX_WIDTH = (0.792, 0.104)
BOX_HEIGHT = (1.047, 0.151)
UPSCALE = 4
BLUR_SIGMA_MAX_PX = 0.8
JPEG_QUALITY_RANGE = (60, 95)
#: Tells the framing draws' random stream apart from the other ``(seed, epoch, ...)`` ones.
FRAMING_STREAM = 7


def detection_framed(face: np.ndarray, rng: np.random.Generator, margin: float) -> np.ndarray:
    """One ``(48, 48)`` uint8 face re-cut as predict would cut it from a photo."""
    side_px = IMAGE_SIZE_PX * UPSCALE
    big = cv2.resize(face, (side_px, side_px), interpolation=cv2.INTER_CUBIC)
    canvas = cv2.copyMakeBorder(big, side_px, side_px, side_px, side_px, cv2.BORDER_REPLICATE)
    width = max(0.3, rng.normal(*BOX_WIDTH))
    height = max(0.3, rng.normal(*BOX_HEIGHT))
    centre = side_px * (1.5 + rng.normal(0.0, BOX_CENTRE_SD))
    square_px = max(1, round(side_px * max(width, height) * (1 + 2 * margin)))
    x0, y0 = (np.round(centre - square_px / 2)).astype(int)
    crop = canvas[y0:y0 + square_px, x0:x0 + square_px]
    small = cv2.resize(crop, (IMAGE_SIZE_PX, IMAGE_SIZE_PX), interpolation=cv2.INTER_AREA)
    return degraded(small, rng)


def degraded(small: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A ``(48, 48)`` uint8 crop after a mild random blur and a JPEG round trip, as a face cut
    from a compressed photo arrives."""
    sigma = rng.uniform(0.0, BLUR_SIGMA_MAX_PX)
    if sigma > 0.1:
        small = cv2.GaussianBlur(small, (0, 0), sigma)
    quality = int(rng.integers(*JPEG_QUALITY_RANGE, endpoint=True))
    encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def as_training_face(face: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A ``(48, 48)`` uint8 face in the dtype and channel count of the training image ``like``."""
    face = face.astype(like.dtype)[..., None]
    return face if like.shape[-1] == 1 else np.repeat(face, like.shape[-1], axis=-1)


def framed_epoch(images: np.ndarray, probability: float, margin: float, seed: int,
                 epoch: int) -> np.ndarray:
    """``images`` (``(N, 48, 48, C)`` float 0..255) with a share ``probability`` of them
    re-cut by :func:`detection_framed`; the others are returned as they are. The choice and
    every draw follow from ``(seed, epoch)``."""
    rng = np.random.default_rng([seed, epoch, FRAMING_STREAM])
    chosen = np.flatnonzero(rng.random(len(images)) < probability)
    framed = images.copy()
    for index in chosen:
        gray = np.clip(images[index, ..., 0], 0, 255).astype(np.uint8)
        framed[index] = as_training_face(detection_framed(gray, rng, margin), images[index])
    return framed


def detected_framed_epoch(images: np.ndarray, crops: np.ndarray, found: np.ndarray,
                          probability: float, seed: int, epoch: int) -> np.ndarray:
    """``images`` (``(N, 48, 48, C)`` float 0..255) with a share ``probability`` of the faces
    MTCNN found (``found``, ``(N,)`` bool) replaced by one of their real detection crops
    (``crops``, ``(margins, N, 48, 48)`` uint8, one margin drawn evenly per face), blurred and
    JPEG-compressed by :func:`degraded`. Every draw follows from ``(seed, epoch)``."""
    rng = np.random.default_rng([seed, epoch, FRAMING_STREAM])
    chosen = np.flatnonzero((rng.random(len(images)) < probability) & found)
    margin_index = rng.integers(0, len(crops), size=len(chosen))
    framed = images.copy()
    for index, margin in zip(chosen, margin_index, strict=True):
        framed[index] = as_training_face(degraded(crops[margin, index], rng), images[index])
    return framed
