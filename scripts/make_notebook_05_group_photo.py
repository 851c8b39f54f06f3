"""Write ``notebooks/05_group_photo_inference.ipynb`` from the cells below, without outputs.

The logic lives in :mod:`emotion_classification.inference`; the notebook sets parameters,
calls it and shows the result next to the original study's. Regenerate with::

    python scripts/make_notebook_05_group_photo.py
"""

from __future__ import annotations

from notebook_builder import write_notebook

CELLS = [
    ("markdown", """\
# 05 · Every face in a group photo

The original study ran MTCNN on a group photo, cut every face out, classified the faces one
at a time and drew the labels (its result is shown below, beside ours). This notebook runs
the same idea through `emotion_classification.inference.EmotionRecognizer`, which changes
the parts the study got wrong:

* **one classifier call for all faces** instead of one `predict` per face;
* each face is a **square around the box centre** with a 10% margin; at the image border the
  square is filled by repeating edge pixels instead of being shifted;
* the crop is converted to **grayscale and resized with `cv2.INTER_AREA`**, exactly like the
  training images (the study fed BGR crops to a model trained on RGB);
* probabilities are **calibrated** with the temperature fitted on validation data;
* a face is **uncertain** (red, saved under `faces/rejected/`) when the detector is less than
  0.99 sure (the study's rule) or the calibrated top probability is below the threshold
  chosen on validation; confident faces are green;
* colours are given in the channel order the image is drawn in, and **labels scale with
  the image** instead of using a fixed font size.

The same pipeline is available from the command line:
`python -m emotion_classification predict PHOTO --out outputs --panel`."""),
    ("parameters", """\
# Parameters (overridden by run_notebook); relative paths start at the project root
IMAGE_PATH = "../shared/data/photos/people.jpg"  # the group photo
MODEL_PATH = None  # .keras model; None means the committed models/emotion_cnn.keras
OUT_DIR = None  # annotated image, crops, JSON, CSV; None: outputs/group_photo (temp dir if SMALL)
FIGURE_DIR = "reports/figures"  # group_photo.png and group_photo_panel.png go here
SEED_RESULT_PATH = "../shared/reference/seed-people-detected.jpg"  # shown when it exists
DETECTOR_THRESHOLD = 0.9  # faces below this detector confidence are not reported
TTA = False  # average each face with its mirror image
SMALL = False  # True: photo shrunk to 512 px, 6 faces in the panel (a quick check)"""),
    ("code", """\
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from PIL import Image

from emotion_classification.files import project_path
from emotion_classification.inference import (
    OutputWriter,
    annotate,
    faces_table,
    plot_face_panel,
    read_image,
    recognizer_for_notebook,
)
from emotion_classification.plots import save_figure

SMALL_MAX_SIDE_PX = 512
SMALL_PANEL_FACES = 6

# relative paths are taken from the project root, so the notebook's folder does not matter
image_path = project_path(IMAGE_PATH)
figure_dir = project_path(FIGURE_DIR)
if OUT_DIR:
    out_dir = project_path(OUT_DIR)
else:
    out_dir = Path(tempfile.mkdtemp(prefix="group-photo-")) if SMALL else project_path("outputs/group_photo")
recognizer, which_model = recognizer_for_notebook(MODEL_PATH, small=SMALL,
                                                  detector_threshold=DETECTOR_THRESHOLD, tta=TTA)
print(which_model)
print("image:", image_path)"""),
    ("markdown", """\
## Detect, classify, draw

All faces go through the classifier together; the timing covers detection, classification
and drawing (see `scripts/benchmark_inference.py` for a comparison with the study's loop)."""),
    ("code", """\
rgb = read_image(image_path)  # RGB uint8, EXIF orientation applied
if SMALL:
    thumbnail = Image.fromarray(rgb)
    thumbnail.thumbnail((SMALL_MAX_SIDE_PX, SMALL_MAX_SIDE_PX))
    rgb = np.asarray(thumbnail)

start = time.perf_counter()
analysis = recognizer.analyze([rgb])[0]
annotated = annotate(rgb, analysis.records)
elapsed_s = time.perf_counter() - start

writer = OutputWriter(out_dir, panel=False, class_names=recognizer.class_names,
                      margin=recognizer.margin)
writer.write_image(image_path, analysis)
json_path, csv_path = writer.finish(recognizer.settings())
uncertain = sum(record["uncertain"] for record in analysis.records)
print(f"{len(analysis.records)} faces ({uncertain} uncertain) in {rgb.shape[1]}x{rgb.shape[0]} px, "
      f"{elapsed_s:.2f} s")
print("outputs:", out_dir)"""),
    ("markdown", """\
## This project beside the original study

Green boxes: confident faces; red: uncertain ones. The study's picture (right) uses its own
colours: blue for faces the detector was over 0.99 sure of, red for the rest."""),
    ("code", """\
seed_path = project_path(SEED_RESULT_PATH) if SEED_RESULT_PATH else None
panels = [(f"this project: {len(analysis.records)} faces", annotated)]
if seed_path is not None and seed_path.is_file():
    panels.append(("original study", np.asarray(Image.open(seed_path).convert("RGB"))))
fig, axes = plt.subplots(1, len(panels), figsize=(8 * len(panels), 5.5), squeeze=False)
for ax, (title, image) in zip(axes[0], panels, strict=True):
    ax.imshow(image)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
save_figure(fig, figure_dir / "group_photo.png")"""),
    ("markdown", """\
## Every face's probabilities

Each face as the classifier saw it (48x48 grayscale) with its calibrated probabilities;
numbers match those drawn inside the boxes on the left."""),
    ("code", """\
shown = SMALL_PANEL_FACES if SMALL else len(analysis.records)
fig = plot_face_panel(annotate(rgb, analysis.records[:shown], numbers=True),
                      analysis.records[:shown], analysis.crops[:shown],
                      figure_dir / "group_photo_panel.png", recognizer.class_names)"""),
    ("markdown", """\
## The JSON as a table

One row per face: box in pixels, detector confidence, calibrated probabilities. The same
content is in `results.json` and `results.csv` in the output folder."""),
    ("code", """\
table = faces_table(analysis.records, recognizer.class_names)
display(table.round(3))
print(table["top_emotion"].value_counts().to_string())
print("figures written:", figure_dir / "group_photo.png", figure_dir / "group_photo_panel.png")"""),
]


if __name__ == "__main__":
    write_notebook("05_group_photo_inference.ipynb", CELLS)
