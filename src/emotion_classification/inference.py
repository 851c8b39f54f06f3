"""Emotions of every face in a photo: API and the ``predict`` command.

    from emotion_classification.inference import EmotionRecognizer
    recognizer = EmotionRecognizer()               # models/emotion_cnn.keras and its JSON
    faces = recognizer.detect_emotions("people.jpg")
    faces[0]["top_emotion"], faces[0]["emotions"]["happy"], faces[0]["uncertain"]

Images are read once, into RGB uint8, with the EXIF orientation applied, so boxes land on
faces as an image viewer shows them. MTCNN finds the faces (see :mod:`.detection`), all faces
of all images go through the classifier in one batched call, and the probabilities are
calibrated with the temperature stored in the model's JSON record. A face is flagged
*uncertain* when the detector is below 0.99 confident (the original study's rule) or when its
calibrated top probability is below the record's ``uncertain_threshold``.

Command line::

    python -m emotion_classification predict [PATH ...] [--out outputs] [--panel] [--tta]

With no PATH it runs on ``grace_hopper.jpg``, the sample photo shipped inside matplotlib, so
the command works on a fresh clone without any data.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from emotion_classification.calibration import apply_temperature
from emotion_classification.data import CLASS_NAMES
from emotion_classification.detection import (
    CONFIDENT_DETECTION,
    DEFAULT_DETECTOR_THRESHOLD,
    DEFAULT_MARGIN,
    DEFAULT_MIN_FACE_SIZE_PX,
    Face,
    FaceDetector,
    crop_box,
    model_crops,
)
from emotion_classification.files import atomic_output, project_path, write_text

#: File name endings picked up when a folder is given to ``predict``.
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
#: Images whose faces share one classifier call in the command line (bounds memory).
CLI_CHUNK_IMAGES = 8
SAMPLE_PHOTO = "grace_hopper.jpg"
DEFAULT_OUT_DIR = "outputs"
#: Box and label colours, RGB: we draw on RGB arrays and save them with PIL.
CONFIDENT_RGB = (30, 180, 30)
UNCERTAIN_RGB = (220, 30, 30)
LABEL_TEXT_RGB = (255, 255, 255)
#: Label size per pixel of the image's longest side, and its lower bound.
FONT_SCALE_PER_PX = 1 / 1500
MIN_FONT_SCALE = 0.45
LINE_PX_PER_PX = 1 / 600
ANNOTATED_JPEG_QUALITY = 92
PANEL_IMAGE_WIDTH_IN = 9.0
PANEL_CELL_WIDTH_IN = 2.8
PANEL_ROW_HEIGHT_IN = 1.0


class ImageReadError(ValueError):
    """An input is not a readable image; ``str(error)`` is one line: ``<source>: <problem>``."""

    def __init__(self, source, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = str(source)
        self.problem = problem


# ----------------------------------------------------------------------------- image reading


def read_image(image, color_order: str = "rgb") -> np.ndarray:
    """Any supported image as an ``(H, W, 3)`` RGB uint8 array.

    ``image`` is a file path, a PIL image or a numpy array. ``color_order`` describes numpy
    input only: ``"rgb"`` (PIL, matplotlib, imageio) or ``"bgr"`` (OpenCV's ``imread`` and
    video frames). Raises :class:`ImageReadError` for anything that is not a readable image.
    """
    if color_order not in ("rgb", "bgr"):
        raise ValueError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
    if isinstance(image, np.ndarray):
        return array_to_rgb(image, color_order)
    if isinstance(image, Image.Image):
        return pil_to_rgb(upright(image))
    if isinstance(image, str | os.PathLike):
        return read_image_file(Path(image))
    raise TypeError(f"expected a path, PIL image or numpy array, got {type(image).__name__}")


def missing_file_problem(path: Path, kind: str) -> str | None:
    """Why ``path`` cannot be a ``kind`` file before opening it (missing, folder, empty)."""
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return f"is a folder, not {kind}"
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    return None


def read_image_file(path: Path) -> np.ndarray:
    """Decode a file fully (so truncation is caught here) and return RGB uint8."""
    problem = missing_file_problem(path, "an image")
    if problem:
        raise ImageReadError(path, problem)
    try:
        with Image.open(path) as image:
            image.load()
            return pil_to_rgb(upright(image))
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image (unrecognised file format)") from None
    except Image.DecompressionBombError:
        raise ImageReadError(path, "too many pixels (possible decompression bomb)") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(path, f"truncated or corrupt image data ({error})") from None


def upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, as viewers do; a broken EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF must not make a viewable photo unreadable
        return image


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """RGB uint8 from any PIL mode: 16-bit scaled down, transparency composited on white."""
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image).astype(np.float64)
        if image.mode.startswith("I;16") or (image.mode == "I" and values.max(initial=0) > 255):
            values = values / 257.0  # 0..65535 -> 0..255
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def array_to_rgb(array: np.ndarray, color_order: str = "rgb") -> np.ndarray:
    """RGB uint8 from a gray, colour or colour+alpha array (uint8, uint16, bool or float)."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageReadError("array", f"unsupported image shape {array.shape}")
    if array.size == 0:
        raise ImageReadError("array", "empty image")
    values = to_uint8(array)
    if values.ndim == 2:
        return np.repeat(values[..., None], 3, axis=-1)
    if color_order == "bgr":
        values = values[..., [2, 1, 0, *range(3, values.shape[-1])]]
    if values.shape[-1] == 4:
        alpha = values[..., 3:].astype(np.float32) / 255
        values = np.rint(values[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(values)


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale pixel values to uint8: 16-bit by 1/257, floats in 0..1 by 255, others clipped."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return np.rint(array / 257.0).astype(np.uint8)
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    values = array.astype(np.float64)
    if np.issubdtype(array.dtype, np.floating) and values.max(initial=0) <= 1.0:
        values = values * 255
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- recognizer


@dataclass
class ImageAnalysis:
    """Everything known about one image: pixels, faces, classifier inputs and outputs."""

    rgb: np.ndarray
    faces: list[Face]
    crops: np.ndarray  # (N, 48, 48, 1) uint8, what the classifier saw
    probs: np.ndarray  # (N, classes) calibrated probabilities
    records: list[dict]  # the public per-face dicts


class EmotionRecognizer:
    """MTCNN face detection followed by the emotion CNN, with calibrated probabilities.

    Args:
        model_path: ``.keras`` file (its ``.json`` record beside it); default
            ``models/emotion_cnn.keras``.
        detector_threshold: faces below this detector confidence are not reported.
        min_face_size: smallest face searched for, in pixels of the original image.
        tta: average each face's prediction with its mirror image's (twice the model work).
        align: rotate each face so the eyes are level before classifying.
        margin: relative margin around the face box, as the original study's 10%.
        confident_detection: detector confidence below which a face is marked uncertain.
        model: an already built Keras model to use instead of loading ``model_path``.
    """

    def __init__(self, model_path: str | os.PathLike | None = None,
                 detector_threshold: float = DEFAULT_DETECTOR_THRESHOLD,
                 min_face_size: int = DEFAULT_MIN_FACE_SIZE_PX, tta: bool = False,
                 align: bool = False, margin: float = DEFAULT_MARGIN,
                 confident_detection: float = CONFIDENT_DETECTION, batch_size: int = 256,
                 model=None):
        from emotion_classification.models import DEFAULT_MODEL_PATH, load_model_and_record

        if model is not None:  # already in memory: FER2013 classes, no calibration
            self.model, self.model_path = model, f"in-memory model {model.name!r}"
            self.record = {"class_names": list(CLASS_NAMES),
                           "calibration": {"temperature": 1.0, "uncertain_threshold": 0.0}}
        else:
            self.model, self.record = load_model_and_record(str(model_path) if model_path
                                                            else None)
            self.model_path = str(model_path or DEFAULT_MODEL_PATH)
        self.class_names = tuple(self.record["class_names"])
        calibration = self.record.get("calibration") or {}
        self.temperature = float(calibration.get("temperature") or 1.0)
        self.uncertain_threshold = float(calibration.get("uncertain_threshold") or 0.0)
        self.detector = FaceDetector(detector_threshold, min_face_size)
        self.tta, self.align, self.margin = tta, align, margin
        self.confident_detection = confident_detection
        self.batch_size = batch_size

    def settings(self) -> dict:
        """The parameters that shaped a result, for the JSON output."""
        return {"model": self.model_path, "detector_threshold": self.detector.threshold,
                "min_face_size_px": self.detector.min_face_size, "tta": self.tta,
                "align": self.align, "margin": self.margin,
                "confident_detection": self.confident_detection,
                "temperature": self.temperature, "uncertain_threshold": self.uncertain_threshold}

    def detect_emotions(self, image, color_order: str = "rgb") -> list[dict]:
        """One dict per face (see :meth:`face_record`), faces ordered left to right."""
        return self.detect_emotions_batch([image], color_order)[0]

    def detect_emotions_batch(self, images: Sequence, color_order: str = "rgb") -> list[list[dict]]:
        """Faces of several images; all faces are classified in one batched model call.

        Raises :class:`ImageReadError` (one line naming the input) for an unreadable image.
        """
        rgbs = [read_image(image, color_order) for image in images]
        return [analysis.records for analysis in self.analyze(rgbs)]

    def top_emotion(self, image, color_order: str = "rgb") -> tuple[str | None, float | None]:
        """``(emotion, calibrated probability)`` of the largest face, or ``(None, None)``."""
        faces = self.detect_emotions(image, color_order)
        if not faces:
            return None, None
        largest = max(faces, key=lambda face: face["box"][2] * face["box"][3])
        return largest["top_emotion"], largest["top_score"]

    def analyze(self, rgbs: Sequence[np.ndarray]) -> list[ImageAnalysis]:
        """Detect faces in RGB uint8 images, then classify every face in one call."""
        detections = self.detector.detect_batch(list(rgbs))
        detections = [sorted(faces, key=lambda face: (face.box[0], face.box[1]))
                      for faces in detections]
        crops = [model_crops(rgb, faces, self.margin, self.align)
                 for rgb, faces in zip(rgbs, detections, strict=True)]
        probs = self.classify(np.concatenate(crops) if crops else np.zeros((0, 48, 48, 1)))
        results, start = [], 0
        for rgb, faces, face_crops in zip(rgbs, detections, crops, strict=True):
            face_probs = probs[start:start + len(faces)]
            start += len(faces)
            records = [self.face_record(face, p) for face, p in zip(faces, face_probs, strict=True)]
            results.append(ImageAnalysis(rgb, faces, face_crops, face_probs, records))
        return results

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for ``(N, 48, 48, 1)`` crops (one predict call)."""
        from emotion_classification.models import predict_proba

        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        probs = predict_proba(self.model, crops, tta=self.tta, batch_size=self.batch_size)
        return apply_temperature(probs, self.temperature)

    def face_record(self, face: Face, probs: np.ndarray) -> dict:
        """The public description of one face, with plain Python types (JSON-ready).

        Probabilities are rounded to 6 decimals and the top class is picked from the rounded
        values, so ``top_emotion`` is always the largest entry of ``emotions`` as written
        (two classes within 1e-6 of each other resolve to the first in class order).
        """
        rounded = [round(float(p), 6) for p in probs]
        top = int(np.argmax(rounded))
        top_score = rounded[top]
        return {
            "box": [int(v) for v in face.box],
            "confidence": round(face.confidence, 6),
            "landmarks": {name: [round(x, 1), round(y, 1)]
                          for name, (x, y) in face.landmarks.items()},
            "emotions": dict(zip(self.class_names, rounded, strict=True)),
            "top_emotion": self.class_names[top],
            "top_score": top_score,
            "uncertain": bool(face.confidence < self.confident_detection
                              or top_score < self.uncertain_threshold),
        }


def recognizer_for_notebook(model_path: str | os.PathLike | None = None, small: bool = False,
                            **kwargs) -> tuple[EmotionRecognizer, str]:
    """A recognizer for notebook 05, and a sentence saying which model it uses.

    ``model_path=None`` means the committed model; relative paths start at the project root. In small mode (tests) a missing committed
    model is replaced by an untrained small ``emotion_cnn`` so the notebook still runs; its
    labels then mean nothing. An explicit path that does not load raises.
    """
    from emotion_classification.models import DEFAULT_MODEL_PATH, emotion_cnn

    path = project_path(model_path or DEFAULT_MODEL_PATH)
    if small and model_path is None and not path.is_file():
        model = emotion_cnn(widths=(8, 8, 16, 16), head_units=16, name="untrained")
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


# ----------------------------------------------------------------------------- drawing


def drawing_sizes(shape: tuple[int, ...]) -> tuple[float, int]:
    """Font scale and line thickness growing with the image, readable at 640 px and 4000 px."""
    longest_px = max(shape[0], shape[1])
    return max(MIN_FONT_SCALE, longest_px * FONT_SCALE_PER_PX), max(1, round(longest_px * LINE_PX_PER_PX))


def face_label(record: dict) -> str:
    """``happy 87%`` from a face record."""
    return f"{record['top_emotion']} {record['top_score']:.0%}"


def annotate(rgb: np.ndarray, records: list[dict], numbers: bool = False) -> np.ndarray:
    """A copy of the RGB image with boxes and labels; uncertain faces in red.

    We draw RGB colours on the RGB array and save with PIL, so no channel is swapped.
    ``numbers`` writes each face's 1-based index inside its box (used by the panel).
    """
    canvas = rgb.copy()
    font_scale, line_px = drawing_sizes(rgb.shape)
    text_px = max(1, round(font_scale * 1.6))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for index, record in enumerate(records, start=1):
        x, y, w, h = record["box"]
        colour = UNCERTAIN_RGB if record["uncertain"] else CONFIDENT_RGB
        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), colour, line_px)
        label = face_label(record)
        (tw, th), baseline = cv2.getTextSize(label, font, font_scale, text_px)
        pad = max(2, line_px)
        top = y - th - baseline - 2 * pad if y - th - baseline - 2 * pad >= 0 else y
        left = min(max(0, x), max(0, canvas.shape[1] - tw - 2 * pad))
        cv2.rectangle(canvas, (left, top), (left + tw + 2 * pad, top + th + baseline + 2 * pad),
                      colour, cv2.FILLED)
        cv2.putText(canvas, label, (left + pad, top + pad + th), font, font_scale,
                    LABEL_TEXT_RGB, text_px, cv2.LINE_AA)
        if numbers:
            cv2.putText(canvas, str(index), (x + pad, y + h - pad - baseline), font,
                        font_scale, colour, text_px, cv2.LINE_AA)
    return canvas


def plot_face_panel(annotated_rgb: np.ndarray, records: list[dict], crops: np.ndarray,
                    path=None, class_names: Sequence[str] | None = None):
    """The annotated photo beside one probability bar chart per face (with the 48x48 crop).

    Faces are numbered as in the annotated image (left to right). Returns the figure and
    saves it atomically when ``path`` is given.
    """
    import matplotlib.pyplot as plt

    from emotion_classification.plots import save_figure

    names = list(class_names or CLASS_NAMES)
    count = len(records)
    columns = max(1, math.ceil(math.sqrt(count / 2)))
    rows = max(1, math.ceil(count / columns))
    height, width = annotated_rgb.shape[:2]
    fig_h_in = max(PANEL_IMAGE_WIDTH_IN * height / width, PANEL_ROW_HEIGHT_IN * rows)
    fig = plt.figure(figsize=(PANEL_IMAGE_WIDTH_IN + PANEL_CELL_WIDTH_IN * columns, fig_h_in))
    grid = fig.add_gridspec(1, 2, width_ratios=[PANEL_IMAGE_WIDTH_IN,
                                                PANEL_CELL_WIDTH_IN * columns], wspace=0.05)
    ax_image = fig.add_subplot(grid[0])
    ax_image.imshow(annotated_rgb)
    ax_image.set_title(f"{count} face{'s' if count != 1 else ''}")
    ax_image.axis("off")
    cells = grid[1].subgridspec(rows, columns, hspace=0.7, wspace=0.1)
    for index, record in enumerate(records):
        # crop | room for the class names | bars
        cell = cells[divmod(index, columns)].subgridspec(1, 3, width_ratios=[1, 0.7, 2.2],
                                                        wspace=0)
        ax_crop = fig.add_subplot(cell[0])
        ax_crop.imshow(crops[index].squeeze(), cmap="gray", vmin=0, vmax=255)
        ax_crop.axis("off")
        ax_bars = fig.add_subplot(cell[2])
        probs = [record["emotions"][name] for name in names]
        colour = np.array(UNCERTAIN_RGB if record["uncertain"] else CONFIDENT_RGB) / 255
        ax_bars.barh(names, probs, color=[colour if n == record["top_emotion"] else "0.7"
                                          for n in names])
        ax_bars.set_xlim(0, 1)
        ax_bars.invert_yaxis()
        ax_bars.tick_params(labelsize=6, length=0)
        ax_bars.set_xticks([])
        ax_bars.set_title(f"{index + 1}: {face_label(record)}", fontsize=7,
                          color=colour if record["uncertain"] else "black")
    save_figure(fig, path)
    return fig


# ----------------------------------------------------------------------------- outputs


def save_rgb(rgb: np.ndarray, path: Path) -> None:
    """Write an RGB array as JPEG or PNG (by suffix), atomically."""
    with atomic_output(path) as tmp:
        image = Image.fromarray(rgb)
        if path.suffix.lower() in (".jpg", ".jpeg"):
            image.save(tmp, format="JPEG", quality=ANNOTATED_JPEG_QUALITY)
        else:
            image.save(tmp, format="PNG")


def csv_rows(image_results: list[dict], class_names: Sequence[str]) -> list[dict]:
    """One flat row per face: image, face index, box, detector confidence, probabilities."""
    rows = []
    for result in image_results:
        for face in result["faces"]:
            x, y, w, h = face["box"]
            row = {"image": result["path"], "face": face["face"], "x": x, "y": y, "w": w, "h": h,
                   "confidence": face["confidence"], "top_emotion": face["top_emotion"],
                   "top_score": face["top_score"], "uncertain": face["uncertain"]}
            row.update({name: face["emotions"][name] for name in class_names})
            row["crop"] = face["crop"]
            rows.append(row)
    return rows


CSV_FIXED_COLUMNS = ("image", "face", "x", "y", "w", "h", "confidence", "top_emotion",
                     "top_score", "uncertain")


def write_csv(path: Path, rows: list[dict], class_names: Sequence[str]) -> None:
    """Write the per-face table (header only when there are no faces), atomically."""
    import pandas as pd

    columns = [*CSV_FIXED_COLUMNS, *class_names, "crop"]
    with atomic_output(path) as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False, float_format="%.6f")


class OutputWriter:
    """Writes the per-image files of ``predict`` and collects the JSON/CSV content."""

    def __init__(self, out_dir: Path, panel: bool, class_names: Sequence[str],
                 margin: float = DEFAULT_MARGIN):
        self.out_dir = out_dir
        self.panel = panel
        self.margin = margin
        self.class_names = list(class_names)
        self.used_names: set[str] = set()
        self.results: list[dict] = []
        self.errors: list[dict] = []

    def unique_name(self, path: Path) -> str:
        """The input's stem, with ``-2``, ``-3``... when two inputs share a stem."""
        stem, count = path.stem, 1
        while (stem if count == 1 else f"{stem}-{count}") in self.used_names:
            count += 1
        name = stem if count == 1 else f"{stem}-{count}"
        self.used_names.add(name)
        return name

    def write_image(self, path: Path, analysis: ImageAnalysis) -> dict:
        """Annotated image, optional panel and face crops of one image; returns its JSON."""
        name = self.unique_name(path)
        faces_dir = self.out_dir / "faces"
        for folder in ("selected", "rejected"):
            for stale in (faces_dir / folder).glob(f"{name}_face*.png"):
                stale.unlink()  # left from an earlier run with more faces
        annotated = annotate(analysis.rgb, analysis.records)
        save_rgb(annotated, self.out_dir / f"{name}_annotated.jpg")
        result = {"path": str(path), "width": int(analysis.rgb.shape[1]),
                  "height": int(analysis.rgb.shape[0]),
                  "annotated": f"{name}_annotated.jpg", "faces": []}
        for index, (face, record) in enumerate(zip(analysis.faces, analysis.records,
                                                   strict=True), start=1):
            x, y, w, h = crop_box(face.box, analysis.rgb.shape, self.margin)
            folder = "rejected" if record["uncertain"] else "selected"
            crop_path = f"faces/{folder}/{name}_face{index:02d}.png"
            save_rgb(np.ascontiguousarray(analysis.rgb[y:y + h, x:x + w]), self.out_dir / crop_path)
            result["faces"].append({"face": index, **record, "crop": crop_path})
        if self.panel:
            import matplotlib.pyplot as plt

            fig = plot_face_panel(annotate(analysis.rgb, analysis.records, numbers=True),
                                  analysis.records, analysis.crops,
                                  self.out_dir / f"{name}_panel.png", self.class_names)
            plt.close(fig)
            result["panel"] = f"{name}_panel.png"
        self.results.append(result)
        return result

    def finish(self, settings: dict) -> tuple[Path, Path]:
        """Write ``results.json`` (every face of every image) and ``results.csv``."""
        json_path, csv_path = self.out_dir / "results.json", self.out_dir / "results.csv"
        payload = {"settings": settings, "class_names": self.class_names,
                   "images": self.results, "errors": self.errors}
        write_text(json_path, json.dumps(payload, indent=2) + "\n")
        write_csv(csv_path, csv_rows(self.results, self.class_names), self.class_names)
        return json_path, csv_path


# ----------------------------------------------------------------------------- command line


def sample_photo() -> Path:
    """Grace Hopper's portrait, shipped in matplotlib's ``mpl-data/sample_data``."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / SAMPLE_PHOTO


def expand_inputs(paths: Sequence[str], exclude: Path | None = None) -> list[Path]:
    """Files as given, folders replaced by the photos inside them (recursively, sorted).

    Missing paths are kept, so that reading them reports the problem in order. Files under
    ``exclude`` (the output folder) are skipped so a rerun does not read its own results.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(path)
            continue
        inside = sorted(p for p in path.rglob("*")
                        if p.is_file() and p.suffix.lower() in PHOTO_EXTENSIONS
                        and not p.name.startswith(".tmp-")
                        and not (exclude and p.resolve().is_relative_to(exclude.resolve())))
        if not inside:
            found.append(path)  # reported as "folder with no images"
        found.extend(inside)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification predict",
        description="Find the faces in photos and label each with its emotion.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="image files or folders (searched recursively); default: "
                             f"matplotlib's sample photo {SAMPLE_PHOTO}")
    parser.add_argument("--out", default=DEFAULT_OUT_DIR,
                        help=f"output folder (default: {DEFAULT_OUT_DIR})")
    parser.add_argument("--model", default=None,
                        help="model .keras file (default: models/emotion_cnn.keras)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_DETECTOR_THRESHOLD,
                        help="minimum detector confidence of a reported face "
                             f"(default: {DEFAULT_DETECTOR_THRESHOLD}); faces under "
                             f"{CONFIDENT_DETECTION} are marked uncertain")
    parser.add_argument("--min-face-size", type=int, default=DEFAULT_MIN_FACE_SIZE_PX,
                        help="smallest face in pixels (default: %(default)s)")
    parser.add_argument("--tta", action="store_true",
                        help="average with mirrored faces (slower, slightly more accurate)")
    parser.add_argument("--align", action="store_true", help="level the eyes before classifying")
    parser.add_argument("--panel", action="store_true",
                        help="also save a per-face probability panel beside each image")
    return parser


def error_line(message: str) -> None:
    """The one line a user sees for a bad input: ``error: <file>: <problem>``."""
    print(f"error: {message}", file=sys.stderr)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up banner hidden, so errors stay one line.

    TensorFlow prints oneDNN/CUDA notices to file descriptor 2 before its logging is set up,
    whatever ``TF_CPP_MIN_LOG_LEVEL`` says. The banner is replayed if the import fails.
    ``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 here (set it to 0 to see everything).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as banner:
        os.dup2(banner.fileno(), 2)
        try:
            import tensorflow

            # the CUDA probe ("failed call to cuInit" on machines without a GPU) prints
            # when devices are first listed, not at import: do it while stderr is hidden
            tensorflow.config.list_physical_devices("GPU")
        except BaseException:
            os.dup2(saved_fd, 2)
            banner.seek(0)
            sys.stderr.write(banner.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def main(argv: list[str] | None = None) -> int:
    """Run ``predict``; 0 when every input was read, 1 when some failed, 2 for usage errors."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage message
        return int(exit_.code or 0)
    if not 0.0 <= args.threshold <= 1.0:
        error_line(f"--threshold must be between 0 and 1, got {args.threshold}")
        return 2
    if args.min_face_size < 1:
        error_line(f"--min-face-size must be a positive pixel count, got {args.min_face_size}")
        return 2
    import_tensorflow_quietly()
    out_dir = Path(args.out)
    paths = args.paths
    if not paths:
        paths = [str(sample_photo())]
        print(f"no PATH given: using matplotlib's sample photo {paths[0]}", file=sys.stderr)
    try:
        return run_predict(args, expand_inputs(paths, exclude=out_dir), out_dir)
    except KeyboardInterrupt:
        error_line("interrupted")
        return 130


def run_predict(args, inputs: list[Path], out_dir: Path) -> int:
    """Read, detect, classify and write every input; report failures one line each."""
    from tqdm import tqdm

    from emotion_classification.models import ModelFileError

    try:
        recognizer = EmotionRecognizer(args.model, detector_threshold=args.threshold,
                                       min_face_size=args.min_face_size, tta=args.tta,
                                       align=args.align)
    except ModelFileError as error:
        error_line(f"{error}; train one with `python -m emotion_classification train` "
                   "or pass --model")
        return 2
    writer = OutputWriter(out_dir, args.panel, recognizer.class_names, recognizer.margin)
    failed = 0
    progress = tqdm(total=len(inputs), unit="image", desc="predict", disable=None)
    try:
        for start in range(0, len(inputs), CLI_CHUNK_IMAGES):
            chunk, rgbs = [], []
            for path in inputs[start:start + CLI_CHUNK_IMAGES]:
                try:
                    if path.is_dir():
                        raise ImageReadError(path, "folder holds no images "
                                             f"({', '.join(PHOTO_EXTENSIONS)})")
                    rgbs.append(read_image(path))
                    chunk.append(path)
                except ImageReadError as error:
                    failed += 1
                    writer.errors.append({"path": str(path), "error": error.problem})
                    progress.write(f"error: {error}", file=sys.stderr)
                    progress.update(1)
            for path, analysis in zip(chunk, recognizer.analyze(rgbs), strict=True):
                result = writer.write_image(path, analysis)
                if not result["faces"]:
                    progress.write(f"note: {path}: no faces found", file=sys.stderr)
                progress.update(1)
        json_path, csv_path = writer.finish(recognizer.settings())
    except OSError as error:
        error_line(f"{error.filename or out_dir}: cannot write results ({error.strerror or error})")
        return 1
    finally:
        progress.close()
    with stdout_may_close():
        print_summary(writer, out_dir, json_path, csv_path)
    return 1 if failed else 0


@contextmanager
def stdout_may_close() -> Iterator[None]:
    """Let ``predict ... | head`` end quietly: a closed stdout is not an error worth a traceback."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout again at exit
        os.close(devnull)


def print_summary(writer: OutputWriter, out_dir: Path, json_path: Path, csv_path: Path) -> None:
    """Say how many faces were found and where every kind of output went."""
    faces = [face for result in writer.results for face in result["faces"]]
    uncertain = sum(face["uncertain"] for face in faces)
    print(f"{len(writer.results)} image(s), {len(faces)} face(s) ({uncertain} uncertain), "
          f"{len(writer.errors)} unreadable input(s)")
    print(f"results in {out_dir}/: annotated images *_annotated.jpg, crops in faces/selected "
          f"and faces/rejected, all faces in {json_path.name} and {csv_path.name}")


if __name__ == "__main__":
    sys.exit(main())
