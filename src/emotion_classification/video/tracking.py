"""Face ids across video frames: greedy matching of boxes by overlap (IoU).

A face keeps its ``face_id`` from frame to frame when its box overlaps the box it had in a
recent analysed frame by at least :data:`TRACK_IOU`; an id unseen for longer than the gap
allowed is retired, and a face that comes back later gets a new id. Between detections the
video pipeline moves each box with optical flow (:mod:`.frame_tracking`) and tells the
tracker with :meth:`IouTracker.follow`, so the next detection is matched against where the
face is now rather than where it was detected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Minimum box overlap for a face to keep its id from one analysed frame to the next.
TRACK_IOU = 0.3


def iou(a, b) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    box: tuple[int, int, int, int]
    last_frame: int


@dataclass
class IouTracker:
    """Greedy IoU matching: each box takes the free track it overlaps most, or a new id."""

    iou_threshold: float = TRACK_IOU
    max_gap_frames: int = 60
    tracks: dict[int, Track] = field(default_factory=dict)
    next_id: int = 1

    def update(self, frame: int, boxes: list) -> list[int]:
        """Ids for the boxes of one frame (frames must come in increasing order)."""
        self.retire(frame)
        pairs = sorted(((iou(box, track.box), index, tid)
                        for index, box in enumerate(boxes) for tid, track in self.tracks.items()),
                       reverse=True)
        ids: dict[int, int] = {}
        for overlap, index, tid in pairs:
            if overlap < self.iou_threshold:
                break
            if index not in ids and tid not in ids.values():
                ids[index] = tid
        for index, box in enumerate(boxes):
            if index not in ids:
                ids[index] = self.next_id
                self.next_id += 1
            self.tracks[ids[index]] = Track(tuple(box), frame)
        return [ids[index] for index in range(len(boxes))]

    def follow(self, face_id: int, box, frame: int) -> None:
        """A face seen at ``box`` in ``frame`` without a detection (moved by optical flow)."""
        self.tracks[face_id] = Track(tuple(box), frame)

    def retire(self, frame: int) -> list[int]:
        """Forget the faces unseen for longer than the gap allowed; return their ids."""
        gone = [tid for tid, t in self.tracks.items() if frame - t.last_frame > self.max_gap_frames]
        for tid in gone:
            del self.tracks[tid]
        return gone
