"""Per-face temporal smoothing of emotion probabilities: an exponential moving average.

A face's label from a single frame flickers (a word spoken, a blink, motion blur), while the
expression people mean changes over a second or more. Each tracked face therefore carries an
exponential moving average of its calibrated probabilities. The weight of a new frame is

    alpha = 1 - exp(-dt / time_constant_s)

with ``dt`` the seconds since the face's previous labelled frame, so the smoothing means the
same at 10, 30 or 60 frames per second, with every frame or one in six analysed, and for live
sources whose frames come irregularly. After ``time_constant_s`` seconds a change of
expression is about 63% through; ``time_constant_s = 0`` turns smoothing off. The average
of probability vectors is again a probability vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Default time constant of the moving average, in seconds.
SMOOTHING_S = 1.0


def ema_weight(dt_s: float, time_constant_s: float) -> float:
    """Weight of a new observation ``dt_s`` seconds after the previous one (1 = no memory)."""
    if time_constant_s <= 0:
        return 1.0
    return 1.0 - math.exp(-max(0.0, dt_s) / time_constant_s)


@dataclass
class EmaSmoother:
    """The moving average of each face id's probabilities, updated in time order."""

    time_constant_s: float = SMOOTHING_S
    state: dict[int, tuple[float, np.ndarray]] = field(default_factory=dict)

    def update(self, face_id: int, time_s: float, probs: np.ndarray) -> np.ndarray:
        """The face's smoothed probabilities after seeing ``probs`` at ``time_s``."""
        probs = np.asarray(probs, np.float64)
        previous = self.state.get(face_id)
        if previous is None:
            smoothed = probs
        else:
            last_s, average = previous
            smoothed = average + ema_weight(time_s - last_s, self.time_constant_s) * (probs - average)
        self.state[face_id] = (time_s, smoothed)
        return smoothed
