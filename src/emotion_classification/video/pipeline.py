"""Every analysed frame labelled: detection on one frame in N, optical flow in between,
batched classification, and per-face smoothing.

:class:`FramePipeline` takes frames in order. On a *detection frame* (the first analysed
frame, then one in ``detect_every``) MTCNN finds the faces and :class:`.IouTracker` gives
them their ids; on the frames between, each face's box is carried by optical flow
(:mod:`.optical_flow`). Every box is cropped for the classifier at once, but the crops of
``batch_frames`` frames wait and go through the classifier in one call; a batch goes sooner
when its frames and crops reach :data:`HELD_MAX_BYTES`, so memory stays bounded whatever
``batch_frames`` is. Each face's
probabilities are then smoothed over time (:mod:`.smoothing`) and the frames come out as
:class:`LabelledFrame` rows, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emotion_classification.inference.detection import Face, margin_crops, to_gray
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.video.optical_flow import follow_face
from emotion_classification.video.smoothing import SMOOTHING_S, EmaSmoother
from emotion_classification.video.tracking import TRACK_IOU, IouTracker

#: MTCNN runs on the first analysed frame and then on one in this many; boxes are carried
#: by optical flow in between.
DETECT_EVERY_FRAMES = 15
#: Analysed frames whose faces share one classifier call.
BATCH_FRAMES = 30
#: Memory the frames and crops waiting for the classifier may take; a batch is classified
#: as soon as it holds this much, before ``batch_frames`` frames if need be.
HELD_MAX_BYTES = 128 * 2**20
SMOOTHED_PREFIX = "smoothed_"


def frames_held_max(frame_bytes: int) -> int:
    """How many frames of ``frame_bytes`` fit in :data:`HELD_MAX_BYTES` (at least one)."""
    return max(1, HELD_MAX_BYTES // max(1, frame_bytes))


def table_columns(class_names) -> list[str]:
    """The per-face-per-frame table's columns: raw values first, then the smoothed ones."""
    return ["frame", "time_s", "face_id", "detected", "x", "y", "w", "h", "confidence",
            *class_names, "top_emotion", "top_score", "uncertain", "uncertain_reason",
            *smoothed_columns(class_names), "smoothed_emotion", "smoothed_score",
            "smoothed_uncertain_reason"]


def smoothed_columns(class_names) -> list[str]:
    """``smoothed_angry``, ``smoothed_disgust``...: the moving averages of the probabilities."""
    return [f"{SMOOTHED_PREFIX}{name}" for name in class_names]


@dataclass
class PendingFrame:
    """A frame whose faces are found and cropped, waiting for the classifier."""

    frame: int
    time_s: float
    rgb: np.ndarray | None  # kept only when the frame is drawn afterwards
    faces: list[tuple[int, Face, bool]]  # face id, face, found by the detector on this frame
    crops: np.ndarray  # (margins, faces, 48, 48, 1): each face cut at each of the margins

    @property
    def nbytes(self) -> int:
        """Memory held by the frame and its crops."""
        return self.crops.nbytes + (self.rgb.nbytes if self.rgb is not None else 0)


@dataclass
class LabelledFrame:
    """A frame's table rows and, for drawing, each face's smoothed record."""

    frame: int
    time_s: float
    rgb: np.ndarray | None
    rows: list[dict] = field(default_factory=list)
    drawn: list[dict] = field(default_factory=list)


class FramePipeline:
    """Labels the analysed frames of one video, in order (see the module)."""

    def __init__(self, recognizer: EmotionRecognizer, detect_every: int = DETECT_EVERY_FRAMES,
                 batch_frames: int = BATCH_FRAMES, smoothing_s: float = SMOOTHING_S,
                 iou_threshold: float = TRACK_IOU, max_gap_frames: int = 60,
                 keep_frames: bool = False):
        if detect_every < 1 or batch_frames < 1:
            raise ValueError(f"detect_every and batch_frames must be at least 1, got "
                             f"{detect_every} and {batch_frames}")
        if not smoothing_s >= 0:
            raise ValueError(f"smoothing_s must be 0 or more seconds, got {smoothing_s}")
        self.recognizer = recognizer
        self.detect_every, self.batch_frames = detect_every, batch_frames
        self.tracker = IouTracker(iou_threshold, max_gap_frames=max_gap_frames)
        self.smoother = EmaSmoother(smoothing_s)
        self.keep_frames = keep_frames
        self.active: dict[int, Face] = {}
        self.previous_gray: np.ndarray | None = None
        self.pending: list[PendingFrame] = []
        self.held_bytes = 0
        self.analysed = 0
        self.detections = 0

    def add(self, frame: int, time_s: float, rgb: np.ndarray) -> list[LabelledFrame]:
        """Take the next analysed RGB frame; return the frames labelled by now (maybe none)."""
        gray = to_gray(rgb)
        if self.analysed % self.detect_every == 0:
            faces = self.detect(frame, rgb)
        else:
            faces = self.follow(frame, gray)
        self.previous_gray = gray
        self.analysed += 1
        crops = margin_crops(gray, [face for _, face, _ in faces], self.recognizer.margins,
                             self.recognizer.align)
        pending = PendingFrame(frame, time_s, rgb if self.keep_frames else None, faces, crops)
        self.pending.append(pending)
        self.held_bytes += pending.nbytes
        full = len(self.pending) >= self.batch_frames or self.held_bytes >= HELD_MAX_BYTES
        return self.flush() if full else []

    def detect(self, frame: int, rgb: np.ndarray) -> list[tuple[int, Face, bool]]:
        """MTCNN's faces, left to right, with the ids the tracker gives them."""
        faces = sorted(self.recognizer.detector.detect(rgb),
                       key=lambda face: (face.box[0], face.box[1]))
        ids = self.tracker.update(frame, [face.box for face in faces])
        self.active = dict(zip(ids, faces, strict=True))
        self.detections += 1
        return [(face_id, face, True) for face_id, face in self.active.items()]

    def follow(self, frame: int, gray: np.ndarray) -> list[tuple[int, Face, bool]]:
        """The faces of the previous frame moved by optical flow (lost ones dropped)."""
        moved = {}
        for face_id, face in self.active.items():
            followed = follow_face(self.previous_gray, gray, face)
            if followed is not None:
                moved[face_id] = followed
                self.tracker.follow(face_id, followed.box, frame)
        self.active = moved
        return [(face_id, face, False) for face_id, face in moved.items()]

    def flush(self) -> list[LabelledFrame]:
        """Classify every waiting crop in one call and label the waiting frames."""
        if not self.pending:
            return []
        crops = np.concatenate([p.crops for p in self.pending], axis=1)
        probs = self.recognizer.classify_margins(crops)
        labelled, start = [], 0
        for pending in self.pending:
            frame = LabelledFrame(pending.frame, pending.time_s, pending.rgb)
            for (face_id, face, detected), face_probs in zip(
                    pending.faces, probs[start:start + len(pending.faces)], strict=True):
                row, drawn = self.label(pending, face_id, face, detected, face_probs)
                frame.rows.append(row)
                frame.drawn.append(drawn)
            start += len(pending.faces)
            labelled.append(frame)
        self.pending, self.held_bytes = [], 0
        return labelled

    def label(self, pending: PendingFrame, face_id: int, face: Face, detected: bool,
              probs: np.ndarray) -> tuple[dict, dict]:
        """One table row (raw and smoothed values) and the smoothed record to draw."""
        raw = self.recognizer.face_record(face, probs)
        smoothed = self.recognizer.face_record(
            face, self.smoother.update(face_id, pending.time_s, probs))
        x, y, w, h = raw["box"]
        row = {"frame": pending.frame, "time_s": round(pending.time_s, 3), "face_id": face_id,
               "detected": detected, "x": x, "y": y, "w": w, "h": h,
               "confidence": raw["confidence"], **raw["emotions"],
               "top_emotion": raw["top_emotion"], "top_score": raw["top_score"],
               "uncertain": raw["uncertain"], "uncertain_reason": raw["uncertain_reason"],
               **{f"{SMOOTHED_PREFIX}{name}": value
                  for name, value in smoothed["emotions"].items()},
               "smoothed_emotion": smoothed["top_emotion"],
               "smoothed_score": smoothed["top_score"],
               "smoothed_uncertain_reason": smoothed["uncertain_reason"]}
        return row, {**smoothed, "face": face_id}
