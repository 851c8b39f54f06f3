"""Emotion-Classification: facial emotion recognition on FER2013 with Keras and MTCNN."""

from emotion_classification.data import CLASS_NAMES, IMAGE_SIZE_PX

__all__ = ["CLASS_NAMES", "IMAGE_SIZE_PX"]
__version__ = "0.1.0"
