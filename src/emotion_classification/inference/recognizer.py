"""Emotions of every face in a photo: the :class:`EmotionRecognizer` API.

    from emotion_classification import EmotionRecognizer
    recognizer = EmotionRecognizer()               # models/emotion_cnn.keras and its JSON
    # or EmotionRecognizer("fast"), EmotionRecognizer("models/emotion_cnn.onnx")
    faces = recognizer.detect_emotions("people.jpg")
    faces[0]["top_emotion"], faces[0]["emotions"]["happy"], faces[0]["uncertain"]
    recognizer.detect_emotions(cv2.imread("people.jpg"), color_order="bgr")  # OpenCV's order

Arrays are RGB unless ``color_order="bgr"`` says otherwise (OpenCV's ``imread`` and video
frames are BGR): a BGR array read as RGB swaps red and blue, which moves boxes and changes
labels. Face boxes given by the caller are cut to the image; a box with no width or height,
or one wholly outside the image, is refused with a
:class:`~emotion_classification.inference.detection.FaceBoxError` naming it.

MTCNN finds the faces of each image on its own (see :mod:`.detection`), so a face's box never
depends on what else is in the batch; all faces of all images then go through the classifier
in one batched call, and the probabilities are calibrated with the temperature stored in the
model's JSON record. A face is flagged *uncertain* when its calibrated top probability is
below the record's ``uncertain_threshold``, or, if the caller sets ``confident_detection``
(the original study used 0.99), when MTCNN is less sure than that; ``uncertain_reason``
says which (:mod:`.uncertainty`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emotion_classification.inference.calibration import apply_temperature
from emotion_classification.inference.detection import (
    CONFIDENT_DETECTION,
    DEFAULT_DETECTOR_THRESHOLD,
    DEFAULT_MARGINS,
    DEFAULT_MIN_FACE_SIZE_PX,
    Face,
    FaceDetector,
    clip_box,
    crop_margins,
    margin_crops,
    mean_over_margins,
    shown_index,
    shown_margin,
    to_gray,
)
from emotion_classification.inference.images import read_image, to_uint8
from emotion_classification.inference.uncertainty import uncertain_reason
from emotion_classification.labels import CLASS_NAMES, IMAGE_SIZE_PX
from emotion_classification.models.runtimes import PREDICT_BATCH_SIZE
from emotion_classification.utils.files import project_path


@dataclass
class ImageAnalysis:
    """Everything known about one image: pixels, faces, classifier inputs and outputs."""

    rgb: np.ndarray
    faces: list[Face]
    crops: np.ndarray  # (N, 48, 48, 1) uint8, what the classifier saw
    probs: np.ndarray  # (N, classes) calibrated probabilities
    records: list[dict]  # the public per-face dicts
    crop_margin: float  # the margin of ``crops`` (one of those averaged)


class DetectorUnavailableError(ImportError):
    """Faces were to be detected, but MTCNN (which needs TensorFlow) cannot be imported."""


def open_classifier_and_record(model=None) -> tuple:
    """``(classifier, record, name, file)`` for a model alias, a file or a Keras model in
    memory.

    ``name`` is what results record as the model: the file as given (an alias as its file,
    ``None`` as the default file), or ``in-memory model '<name>'``. ``file`` is the model
    file found (``None`` for a model in memory), whichever folder the caller runs from. A
    model in memory gets the FER2013 classes and no calibration.
    """
    from emotion_classification.labels import DEFAULT_MODEL_PATH, MODEL_ALIASES
    from emotion_classification.models.runtimes import KerasClassifier, open_model

    if model is None or isinstance(model, str | os.PathLike):
        classifier, record, path = open_model(model)
        name = MODEL_ALIASES.get(model, model) if isinstance(model, str) else model
        return classifier, record, str(name or DEFAULT_MODEL_PATH), path
    record = {"class_names": list(CLASS_NAMES),
              "calibration": {"temperature": 1.0, "uncertain_threshold": 0.0}}
    return KerasClassifier(model), record, f"in-memory model {model.name!r}", None


def load_detector(threshold: float, min_face_size: int, needs_tensorflow: bool
                  ) -> tuple[FaceDetector | None, str | None]:
    """``(detector, None)``, or ``(None, why)`` when MTCNN cannot be imported and the
    classifier does not need TensorFlow either (an ONNX model on a machine without it)."""
    try:
        return FaceDetector(threshold, min_face_size), None
    except ImportError as error:
        if needs_tensorflow:
            raise
        return None, str(error)


def as_face(face, shape: tuple[int, ...]) -> Face:
    """A :class:`Face`, or one made from an ``(x, y, w, h)`` box (confidence 1), with its box
    cut to an image of ``shape`` (:func:`clip_box` refuses a box with no area or outside
    the image)."""
    if isinstance(face, Face):
        return Face(clip_box(face.box, shape), face.confidence, dict(face.landmarks))
    return Face(box=clip_box(face, shape), confidence=1.0)


class EmotionRecognizer:
    """MTCNN face detection followed by the emotion CNN, with calibrated probabilities.

    The classifier is a ``.keras``, ``.onnx`` or ``.tflite`` file (:mod:`.runtimes`); a
    ``.onnx`` one runs on onnxruntime alone. MTCNN itself needs TensorFlow: where TensorFlow
    cannot be imported, :meth:`classify` and :meth:`detect_emotions` with ``faces`` given
    still work, and detecting faces raises :class:`DetectorUnavailableError`.

    Args:
        model_path: a model file (its ``.json`` record beside it, same stem) or alias
            (``accurate``, the default: ``models/emotion_cnn.keras``; ``fast``).
        detector_threshold: faces below this detector confidence are not reported.
        min_face_size: smallest face searched for, in pixels of the original image.
        tta: test-time augmentation, ``"none"``, ``"flip"`` (each face and its mirror
            image, twice the model work) or ``"ten_crop"`` (ten times); True is flip.
        align: rotate each face so the eyes are level before classifying.
        margin: relative margin added on each side of the face box before cropping
            (:data:`~emotion_classification.inference.detection.DEFAULT_MARGINS`); with several,
            the face is cut at each and the probabilities of the cuts are averaged,
            which evens out how MTCNN's box size varies from face to face.
        confident_detection: detector confidence below which a face is marked
            detector-unsure (0, the default, flags none; the study used 0.99).
        batch_size: faces per classifier call (memory only: results do not depend on it).
        model: a model file or alias, as ``model_path``; or an already built Keras model
            (FER2013 classes, uncalibrated).
    """

    def __init__(self, model_path: str | os.PathLike | None = None,
                 detector_threshold: float = DEFAULT_DETECTOR_THRESHOLD,
                 min_face_size: int = DEFAULT_MIN_FACE_SIZE_PX, tta: bool | str = False,
                 align: bool = False, margin: float | Sequence[float] = DEFAULT_MARGINS,
                 confident_detection: float = CONFIDENT_DETECTION,
                 batch_size: int = PREDICT_BATCH_SIZE, model=None):
        if model is not None and model_path is not None:
            raise ValueError("give the model either as model_path or as model, not both")
        self.classifier, self.record, self.model_path, self.model_file = (
            open_classifier_and_record(model if model is not None else model_path))
        self.model = self.classifier.model
        self.class_names = tuple(self.record["class_names"])
        calibration = self.record.get("calibration") or {}
        self.temperature = float(calibration.get("temperature") or 1.0)
        self.uncertain_threshold = float(calibration.get("uncertain_threshold") or 0.0)
        self._detector, self._detector_problem = load_detector(
            detector_threshold, min_face_size, needs_tensorflow=self.classifier.kind == "keras")
        self.detector_threshold, self.min_face_size = float(detector_threshold), int(min_face_size)
        self.tta, self.align = tta, align
        self.margins = crop_margins(margin)
        self.margin = self.margins[0] if len(self.margins) == 1 else list(self.margins)
        self.confident_detection = confident_detection
        self.batch_size = batch_size

    @property
    def detector(self) -> FaceDetector:
        """The MTCNN face detector; :class:`DetectorUnavailableError` without TensorFlow."""
        if self._detector is None:
            raise DetectorUnavailableError(
                f"face detection needs MTCNN, which needs TensorFlow ({self._detector_problem}); "
                "give the faces' boxes (detect_emotions(image, faces=...)) or classify 48x48 "
                "crops (classify)")
        return self._detector

    def settings(self) -> dict:
        """The parameters that shaped a result, for the JSON output."""
        return {"model": self.model_path, "detector_threshold": self.detector_threshold,
                "min_face_size_px": self.min_face_size, "tta": self.tta,
                "align": self.align, "margin": self.margin,
                "confident_detection": self.confident_detection,
                "temperature": self.temperature, "uncertain_threshold": self.uncertain_threshold}

    def detect_emotions(self, image, color_order: str = "rgb", faces: Sequence | None = None
                        ) -> list[dict]:
        """One dict per face (see :meth:`face_record`), faces ordered left to right.

        ``image`` is a path, a PIL image or a numpy array; ``color_order`` says how an
        array's channels are ordered: ``"rgb"`` (PIL, matplotlib, imageio) or ``"bgr"``
        (``cv2.imread``, OpenCV video frames). ``faces`` (boxes ``(x, y, w, h)`` or
        :class:`Face` s) skips MTCNN: those faces are classified, in the order given; a bare
        box counts as a sure detection (confidence 1). A box reaching past the image's edge
        is cut to it; one with no width or height, or wholly outside, raises
        :class:`~emotion_classification.inference.detection.FaceBoxError`.
        """
        return self.detect_emotions_batch([image], color_order,
                                          None if faces is None else [faces])[0]

    def detect_emotions_batch(self, images: Sequence, color_order: str = "rgb",
                              faces: Sequence[Sequence] | None = None) -> list[list[dict]]:
        """Faces of several images; all faces are classified in one batched model call.

        ``faces``, when given, holds each image's face boxes (see :meth:`detect_emotions`).
        Raises :class:`ImageReadError` (one line naming the input) for an unreadable image.
        """
        rgbs = [read_image(image, color_order) for image in images]
        return [analysis.records for analysis in self.analyze(rgbs, faces)]

    def top_emotion(self, image, color_order: str = "rgb") -> tuple[str | None, float | None]:
        """``(emotion, calibrated probability)`` of the largest face, or ``(None, None)``."""
        faces = self.detect_emotions(image, color_order)
        if not faces:
            return None, None
        largest = max(faces, key=lambda face: face["box"][2] * face["box"][3])
        return largest["top_emotion"], largest["top_score"]

    def analyze(self, rgbs: Sequence[np.ndarray], faces: Sequence[Sequence] | None = None
                ) -> list[ImageAnalysis]:
        """Detect faces in each RGB uint8 image (unless each image's ``faces`` are given),
        then classify every face in one call."""
        if faces is None:
            detections = [sorted(found, key=lambda face: (face.box[0], face.box[1]))
                          for found in self.detector.detect_batch(list(rgbs))]
        else:
            detections = [[as_face(face, rgb.shape) for face in given]
                          for rgb, given in zip(rgbs, faces, strict=True)]
        image_crops = [margin_crops(to_gray(rgb), faces, self.margins, self.align)
                       for rgb, faces in zip(rgbs, detections, strict=True)]
        all_crops = (np.concatenate(image_crops, axis=1) if image_crops else
                     np.zeros((len(self.margins), 0, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1), np.uint8))
        probs = self.classify_margins(all_crops)
        crops = [by_margin[shown_index(self.margins)] for by_margin in image_crops]
        crop_margin = shown_margin(self.margins)
        results, start = [], 0
        for rgb, faces, face_crops in zip(rgbs, detections, crops, strict=True):
            face_probs = probs[start:start + len(faces)]
            start += len(faces)
            records = [self.face_record(face, p) for face, p in zip(faces, face_probs, strict=True)]
            results.append(ImageAnalysis(rgb, faces, face_crops, face_probs, records,
                                         crop_margin))
        return results

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for ``(N, 48, 48, 1)`` crops (one batched call of
        the classifier per test-time view: two with flip, ten with ten_crop).

        Crops are pixels 0..255, as uint8 or any number type. Floats whose largest value is
        at most 1.0 are taken as 0..1 and scaled by 255, as :func:`read_image` does for
        images (a 0..255 crop that dark is black either way); other values are rounded and
        clipped to 0..255.
        """
        from emotion_classification.models.runtimes import predict_probs

        crops = to_uint8(np.asarray(crops))
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        probs = predict_probs(self.classifier, crops, self.batch_size, tta=self.tta)
        return apply_temperature(probs, self.temperature)

    def classify_margins(self, crops_by_margin: np.ndarray | Sequence[np.ndarray]
                         ) -> np.ndarray:
        """Mean calibrated probabilities of the same faces cut at each of several margins,
        in one batched classifier call (:func:`mean_over_margins`)."""
        return mean_over_margins(self.classify, crops_by_margin)

    def face_record(self, face: Face, probs: np.ndarray) -> dict:
        """The public description of one face, with plain Python types (JSON-ready).

        Probabilities are rounded to 6 decimals and the top class is picked from the rounded
        values, so ``top_emotion`` is always the largest entry of ``emotions`` as written
        (two classes within 1e-6 of each other resolve to the first in class order).
        """
        rounded = [round(float(p), 6) for p in probs]
        top = int(np.argmax(rounded))
        top_score = rounded[top]
        reason = uncertain_reason(face.confidence, top_score, self.confident_detection,
                                  self.uncertain_threshold)
        return {
            "box": [int(v) for v in face.box],
            "confidence": round(face.confidence, 6),
            "landmarks": {name: [round(x, 1), round(y, 1)]
                          for name, (x, y) in face.landmarks.items()},
            "emotions": dict(zip(self.class_names, rounded, strict=True)),
            "top_emotion": self.class_names[top],
            "top_score": top_score,
            "uncertain": bool(reason),
            "uncertain_reason": reason,
        }


def recognizer_for_notebook(model_path: str | os.PathLike | None = None, small: bool = False,
                            **kwargs) -> tuple[EmotionRecognizer, str]:
    """A recognizer for notebook 05, and a sentence saying which model it uses.

    ``model_path=None`` means the committed model; relative paths start at the project root.
    In small mode (tests) a missing committed model is replaced by an untrained small
    ``emotion_cnn`` so the notebook still runs; its labels then mean nothing. An explicit path that does not load raises.
    """
    from emotion_classification.labels import DEFAULT_MODEL_PATH
    from emotion_classification.models.architectures import untrained_small_model

    path = project_path(model_path or DEFAULT_MODEL_PATH)
    if small and model_path is None and not path.is_file():
        model = untrained_small_model()
        return (EmotionRecognizer(model=model, **kwargs),
                f"{path} not found: using an UNTRAINED small model (small mode)")
    return EmotionRecognizer(path, **kwargs), f"model: {path}"


def faces_table(records: list[dict], class_names: Sequence[str] = CLASS_NAMES):
    """The face records as a DataFrame: one row per face, one column per probability."""
    import pandas as pd

    rows = [{"face": index, "x": r["box"][0], "y": r["box"][1], "w": r["box"][2],
             "h": r["box"][3], "confidence": r["confidence"], "top_emotion": r["top_emotion"],
             "top_score": r["top_score"], "uncertain": r["uncertain"], **r["emotions"]}
            for index, r in enumerate(records, start=1)]
    return pd.DataFrame(rows, columns=["face", "x", "y", "w", "h", "confidence", "top_emotion",
                                       "top_score", "uncertain", *class_names])
