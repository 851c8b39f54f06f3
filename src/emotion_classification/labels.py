"""What every layer of the package names the same way: the classes, the face size and the
shipped models' files. One home for each, so nothing else defines them again."""

from __future__ import annotations

#: Output order of every model in this project: the Kaggle folder names, sorted.
CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES = len(CLASS_NAMES)
#: Side of the square grayscale face every model takes.
IMAGE_SIZE_PX = 48
#: Model aliases and the files they name, relative to the project root.
MODEL_ALIASES = {"accurate": "models/emotion_cnn.keras", "fast": "models/emotion_cnn_fast.keras"}
DEFAULT_MODEL_ALIAS = "accurate"
DEFAULT_MODEL_PATH = MODEL_ALIASES[DEFAULT_MODEL_ALIAS]
#: The model ``video`` and ``analyze_video`` use unless told otherwise: the fast model only
#: while it is within a point of the accurate one on validation (reports/fast_model_rule.txt);
#: it is now, so video uses the fast model.
VIDEO_MODEL_ALIAS = "fast"
