"""The ``sweep`` command with trial ``b`` paused after its first committed epoch, so that the
sweep resume test can kill the whole sweep at a known point:

    python tests/training/paused_sweep.py SPEC.yaml [sweep flags ...]

The pause reaches the trial through the training hooks every trial is given, never the
environment.
"""

from __future__ import annotations

import sys
import time

from emotion_classification.cli.sweep import main
from emotion_classification.training.checkpoint import TrainingHooks

PAUSED_TRIAL = "b"
PAUSED_AFTER_EPOCH = 1
PAUSE_S = 300.0


def pause_trial_b(epoch: int) -> None:
    """In a trial: wait (for the kill) once trial ``b`` has committed its first epoch."""
    from ray import tune

    if tune.get_context().get_trial_name() == PAUSED_TRIAL and epoch == PAUSED_AFTER_EPOCH:
        time.sleep(PAUSE_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], hooks=TrainingHooks(after_epoch_reported=pause_trial_b)))
