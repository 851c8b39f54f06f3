"""Emotion-Classification: facial emotion recognition on FER2013 with Keras and MTCNN.

    from emotion_classification import EmotionRecognizer, analyze_video

The heavy names are imported on first use, so ``import emotion_classification`` stays fast;
importing the package also keeps TensorFlow's start-up noise out of the output
(:mod:`emotion_classification.utils.quiet`).
"""

from emotion_classification.utils import quiet

quiet.install()

#: public name -> module that defines it, imported when the name is first used (so that
#: the package and ``python -m emotion_classification`` start with the standard library only,
#: and Ctrl-C at any moment reaches the command's one-line handler)
LAZY_NAMES = {
    "CLASS_NAMES": "emotion_classification.labels",
    "IMAGE_SIZE_PX": "emotion_classification.labels",
    "EmotionRecognizer": "emotion_classification.inference.recognizer",
    "ImageReadError": "emotion_classification.inference.images",
    "read_image": "emotion_classification.inference.images",
    "analyze_video": "emotion_classification.video.analyze",
}

__all__ = list(LAZY_NAMES)
__version__ = "0.1.0"


def __getattr__(name: str):
    """Import ``EmotionRecognizer``, ``analyze_video``... from their modules on first use."""
    if name in LAZY_NAMES:
        import importlib

        value = getattr(importlib.import_module(LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emotion_classification' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(LAZY_NAMES))
