"""The per-image files of a ``predict`` folder: the annotated photo, the optional panel and
one crop per face, named so that no two inputs collide, and removed by exact name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from emotion_classification.inference.detection import crop_box
from emotion_classification.inference.drawing import annotate
from emotion_classification.inference.images import shown
from emotion_classification.inference.panel import plot_face_panel
from emotion_classification.utils.files import atomic_output

ANNOTATED_JPEG_QUALITY = 92


def save_rgb(rgb: np.ndarray, path: Path) -> None:
    """Write an RGB array as JPEG or PNG (by suffix), atomically."""
    with atomic_output(path) as tmp:
        image = Image.fromarray(rgb)
        if path.suffix.lower() in (".jpg", ".jpeg"):
            image.save(tmp, format="JPEG", quality=ANNOTATED_JPEG_QUALITY)
        else:
            image.save(tmp, format="PNG")


def crop_name(name: str, folder: str, face: int) -> str:
    """A face crop's path in the output folder: ``faces/<folder>/<name>_faceNN.png``."""
    return f"faces/{folder}/{name}_face{face:02d}.png"


def files_named(out_dir: Path, name: str) -> list[str]:
    """The files on disk that an image named ``name`` could have left, by exact name: its
    annotated image, panel and numbered crops (faces are numbered from 1 without gaps)."""
    found = [file for file in (f"{name}_annotated.jpg", f"{name}_panel.png")
             if (out_dir / file).is_file()]
    face = 1
    while crops := [crop for folder in ("selected", "rejected")
                    if (out_dir / (crop := crop_name(name, folder, face))).is_file()]:
        found += crops
        face += 1
    return found


def remove_files(out_dir: Path, names: Sequence[str]) -> None:
    """Delete files of the output folder by their exact names, the last first (a kill midway
    leaves the first crops, so :func:`files_named` still finds the rest)."""
    for name in reversed(names):
        (out_dir / name).unlink(missing_ok=True)


def write_image_files(out_dir: Path, name: str, path: Path, analysis, panel: bool,
                      class_names: Sequence[str]) -> dict:
    """Face crops, annotated image and optional panel of one image (none for an image without
    faces) after removing what an earlier run left under ``name``; returns its JSON entry."""
    remove_files(out_dir, files_named(out_dir, name))
    has_faces = bool(analysis.faces)
    if has_faces:
        save_rgb(annotate(analysis.rgb, analysis.records), out_dir / f"{name}_annotated.jpg")
    result = {"path": shown(path), "width": int(analysis.rgb.shape[1]),
              "height": int(analysis.rgb.shape[0]),
              "annotated": f"{name}_annotated.jpg" if has_faces else None, "faces": []}
    for index, (face, record) in enumerate(zip(analysis.faces, analysis.records, strict=True),
                                           start=1):
        x, y, w, h = crop_box(face.box, analysis.rgb.shape, analysis.crop_margin)
        folder = "rejected" if record["uncertain"] else "selected"
        crop_path = crop_name(name, folder, index)
        save_rgb(np.ascontiguousarray(analysis.rgb[y:y + h, x:x + w]), out_dir / crop_path)
        result["faces"].append({"face": index, **record, "crop": crop_path})
    if panel and has_faces:
        import matplotlib.pyplot as plt

        fig = plot_face_panel(annotate(analysis.rgb, analysis.records, numbers=True),
                              analysis.records, analysis.crops, out_dir / f"{name}_panel.png",
                              list(class_names))
        plt.close(fig)
        result["panel"] = f"{name}_panel.png"
    return result


def files_of(result: dict) -> list[str]:
    """Every file an index entry points at, relative to the output folder."""
    names = [result["annotated"]] if result.get("annotated") else []
    names += [face["crop"] for face in result["faces"]]
    return names + ([result["panel"]] if "panel" in result else [])
