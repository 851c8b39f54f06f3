"""Face boxes carried between detections by sparse optical flow (Lucas-Kanade).

MTCNN costs far more per frame than the classifier, so the video pipeline detects faces on
one frame in N and carries each box through the frames between with
``cv2.calcOpticalFlowPyrLK``: corner points inside the box are followed to the next frame,
the box moves by their median displacement and scales by the median change of the distances
between them (the Median Flow idea: Kalal, Mikolajczyk and Matas, 2010). Points whose
backward flow does not return within :data:`FORWARD_BACKWARD_PX` of where they started are
not trusted; a box left with fewer than :data:`MIN_POINTS` trusted points is *lost* and
waits for the next detection.

OpenCV 5's own trackers do not fit: ``TrackerMIL`` keeps the first box's size and costs more
per frame than this, and ``TrackerNano``, ``TrackerVit`` and ``TrackerDaSiamRPN`` need ONNX
networks downloaded separately.
"""

from __future__ import annotations

import cv2
import numpy as np

from emotion_classification.inference.detection import Face

#: Corner points followed per face, and the fewest trusted ones that still move a box.
MAX_POINTS = 40
MIN_POINTS = 6
#: A point is trusted when flowing it forward then back lands this close to its start.
FORWARD_BACKWARD_PX = 1.0
#: Corner detection: relative quality and spacing; points are taken from the box's inner part.
CORNER_QUALITY = 0.01
CORNER_SPACING_PX = 3
INNER_SHARE = 0.8
#: Lucas-Kanade search window and pyramid levels.
FLOW_WINDOW_PX = 15
FLOW_LEVELS = 2
#: A box may not grow or shrink by more than this factor from one frame to the next.
MAX_SCALE_STEP = 1.2


def box_points(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """Up to :data:`MAX_POINTS` good corners in the inner part of a box, ``(N, 1, 2)`` float32
    in frame pixels (searched in that part only, not the whole frame)."""
    x, y, w, h = box
    margin_x, margin_y = round(w * (1 - INNER_SHARE) / 2), round(h * (1 - INNER_SHARE) / 2)
    x0, y0 = max(0, x + margin_x), max(0, y + margin_y)
    x1, y1 = min(gray.shape[1], x + w - margin_x), min(gray.shape[0], y + h - margin_y)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    corners = cv2.goodFeaturesToTrack(gray[y0:y1, x0:x1], MAX_POINTS, CORNER_QUALITY,
                                      CORNER_SPACING_PX)
    return None if corners is None else corners + np.float32([x0, y0])


def trusted_flow(previous: np.ndarray, current: np.ndarray, points: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Points and where they went, keeping those that pass the forward-backward check."""
    lk = {"winSize": (FLOW_WINDOW_PX, FLOW_WINDOW_PX), "maxLevel": FLOW_LEVELS}
    moved, found, _ = cv2.calcOpticalFlowPyrLK(previous, current, points, None, **lk)
    back, found_back, _ = cv2.calcOpticalFlowPyrLK(current, previous, moved, None, **lk)
    error_px = np.linalg.norm((back - points).reshape(-1, 2), axis=1)
    keep = (found.ravel() == 1) & (found_back.ravel() == 1) & (error_px < FORWARD_BACKWARD_PX)
    return points.reshape(-1, 2)[keep], moved.reshape(-1, 2)[keep]


def median_scale(before: np.ndarray, after: np.ndarray) -> float:
    """Median ratio of the distances between every pair of points, after over before."""
    first, second = np.triu_indices(len(before), k=1)
    distance_before = np.linalg.norm(before[first] - before[second], axis=1)
    distance_after = np.linalg.norm(after[first] - after[second], axis=1)
    usable = distance_before > 1e-6
    if not usable.any():
        return 1.0
    scale = float(np.median(distance_after[usable] / distance_before[usable]))
    return float(np.clip(scale, 1 / MAX_SCALE_STEP, MAX_SCALE_STEP))


def follow_face(previous: np.ndarray, current: np.ndarray, face: Face) -> Face | None:
    """The face's box moved from the previous grayscale frame to the current one, or None
    when too few points can be followed (the face is lost until the next detection).

    The detector confidence is kept from the detection; landmarks move with the box.
    """
    points = box_points(previous, face.box)
    if points is None or len(points) < MIN_POINTS:
        return None
    before, after = trusted_flow(previous, current, points)
    if len(before) < MIN_POINTS:
        return None
    shift = np.median(after - before, axis=0)
    scale = median_scale(before, after)
    x, y, w, h = face.box
    centre = np.array([x + w / 2, y + h / 2]) + shift
    new_w, new_h = w * scale, h * scale
    height, width = current.shape[:2]
    x0, y0 = max(0, round(centre[0] - new_w / 2)), max(0, round(centre[1] - new_h / 2))
    x1, y1 = min(width, round(centre[0] + new_w / 2)), min(height, round(centre[1] + new_h / 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None  # moved out of the picture
    old_centre = np.array([x + w / 2, y + h / 2])
    landmarks = {name: tuple(float(v) for v in centre + (np.array(point) - old_centre) * scale)
                 for name, point in face.landmarks.items()}
    return Face((x0, y0, x1 - x0, y1 - y0), face.confidence, landmarks)
