# %% [markdown]
# # 05 · Every face in a group photo
#
# The original study ran MTCNN on a group photo, cut every face out, classified the faces one
# at a time and drew the labels. This notebook runs the same idea through
# `emotion_classification.EmotionRecognizer`, which changes the parts the study got wrong:
#
# * **one classifier call for all faces** instead of one `predict` per face;
# * each face is cut as **squares around the box centre**, with margins of 2.5% and 7.5%, and
#   the two predictions are averaged, which evens out how MTCNN's box size varies (chosen on
#   validation: docs/model_card.md); at the image border the square is filled by repeating
#   edge pixels instead of being shifted;
# * the crop is converted to **grayscale and resized with `cv2.INTER_AREA`**, exactly like the
#   training images (the study fed BGR crops to a model trained on RGB);
# * probabilities are **calibrated** with the temperature fitted on validation data;
# * a face is **uncertain** (red, saved under `faces/rejected/`) when the calibrated top
#   probability is below the threshold chosen on validation; confident faces are green. The
#   study also rejected faces the detector was under 0.99 sure of, but MTCNN's confidence
#   told no face from a false detection on this project's measurements (`docs/model_card.md`),
#   so that rule is off unless `CONFIDENT_DETECTION = 0.99` asks for it;
# * colours are given in the channel order the image is drawn in, and **labels scale with
#   the image** instead of using a fixed font size.
#
# **The study's photo** (`people.jpg`, about 30 faces: the README's main figure) is not
# committed; it belongs in `data/photos/people.jpg`. Copy it there from the project's shared
# folder (`data/photos/people.jpg` inside it; see `data/README.md`). **Your own photo**: put
# it in `data/photos/` (the first photo there, in name order, is used) or set `IMAGE_PATH`.
# Without either, the notebook labels a portrait that ships with matplotlib and writes its
# figures under `outputs/group_photo/figures/`, never over the README's figures.
# The same pipeline is available from the command line:
# `python -m emotion_classification predict PHOTO --out outputs --panel`.

# %% tags=["parameters"]
IMAGE_PATH = None  # None: the first photo in data/photos/, else matplotlib's sample portrait
MODEL_PATH = None  # .keras model; None means the committed models/emotion_cnn.keras
OUT_DIR = None  # annotated image, crops, JSON, CSV; None: outputs/group_photo (temp dir if SMALL)
FIGURE_DIR = "reports/figures"  # group_photo.png and group_photo_panel.png (not the sample's)
SEED_RESULT_PATH = "../shared/reference/seed-people-detected.jpg"  # shown only if it exists
DETECTOR_THRESHOLD = 0.9  # faces below this detector confidence are not reported
CONFIDENT_DETECTION = 0.0  # detector-unsure below this; 0.99 reproduces the study's rule
TTA = False  # average each face with its mirror image
SMALL = False  # True: photo shrunk to 512 px, 6 faces in the panel (a quick check)

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from PIL import Image

from emotion_classification.batch.index import save_analyses
from emotion_classification.inference.drawing import annotate
from emotion_classification.inference.images import (
    expand_inputs,
    is_photo,
    read_image,
    sample_photo,
)
from emotion_classification.inference.panel import plot_face_panel
from emotion_classification.inference.recognizer import faces_table, recognizer_for_notebook
from emotion_classification.utils.files import project_path, shown_path
from emotion_classification.utils.plots import save_figure

SMALL_MAX_SIDE_PX = 512
SMALL_PANEL_FACES = 6
USER_PHOTO_DIR = project_path("data/photos")
COMMITTED_FIGURE_DIR = project_path("reports/figures")
SAMPLE_FIGURE_DIR = project_path("outputs/group_photo/figures")


def default_photo() -> Path:
    """The first photo in data/photos/ (name order), else matplotlib's sample portrait."""
    photos = [p for p in expand_inputs([USER_PHOTO_DIR]) if is_photo(p)] \
        if USER_PHOTO_DIR.is_dir() else []
    return photos[0] if photos else sample_photo()


# relative paths are taken from the project root, so the notebook's folder does not matter
image_path = project_path(IMAGE_PATH) if IMAGE_PATH else default_photo()
figure_dir = project_path(FIGURE_DIR)
is_sample = image_path == sample_photo()
if is_sample and figure_dir.resolve() == COMMITTED_FIGURE_DIR.resolve():
    figure_dir = SAMPLE_FIGURE_DIR  # the README's figures show the study's photo only
    print("note: no photo in data/photos/ (the study's people.jpg: see data/README.md); "
          f"the sample portrait's figures go to {shown_path(figure_dir)}")
if OUT_DIR:
    out_dir = project_path(OUT_DIR)
elif SMALL:
    out_dir = Path(tempfile.mkdtemp(prefix="group-photo-"))
else:
    out_dir = project_path("outputs/group_photo")
recognizer, which_model = recognizer_for_notebook(MODEL_PATH, small=SMALL,
                                                  detector_threshold=DETECTOR_THRESHOLD, tta=TTA,
                                                  confident_detection=CONFIDENT_DETECTION)
print(which_model)
print("image:", "matplotlib's sample portrait" if is_sample else shown_path(image_path))

# %% [markdown]
# ## Detect, classify, draw
#
# All faces go through the classifier together; the timing covers detection, classification
# and drawing (see `scripts/benchmark_inference.py` for a comparison with the study's loop).

# %%
rgb = read_image(image_path)  # RGB uint8, EXIF orientation applied
if SMALL:
    thumbnail = Image.fromarray(rgb)
    thumbnail.thumbnail((SMALL_MAX_SIDE_PX, SMALL_MAX_SIDE_PX))
    rgb = np.asarray(thumbnail)

start = time.perf_counter()
analysis = recognizer.analyze([rgb])[0]
annotated = annotate(rgb, analysis.records)
elapsed_s = time.perf_counter() - start

json_path, csv_path = save_analyses(out_dir, [(image_path, analysis)], recognizer.settings(),
                                    recognizer.class_names)
uncertain = sum(record["uncertain"] for record in analysis.records)
print(f"{len(analysis.records)} faces ({uncertain} uncertain) in {rgb.shape[1]}x{rgb.shape[0]} px, "
      f"{elapsed_s:.2f} s")
print("outputs:", shown_path(out_dir))

# %% [markdown]
# ## The result
#
# Green boxes: confident faces; red: uncertain ones. Where the original study's result for
# its group photo is available (`SEED_RESULT_PATH`), it is shown on the right, in its own
# colours: blue for faces the detector was over 0.99 sure of, red for the rest.

# %%
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
save_figure(fig, figure_dir / "group_photo.png")

# %% [markdown]
# ## Every face's probabilities
#
# Each face as the classifier saw it (48x48 grayscale) with its calibrated probabilities;
# numbers match those drawn inside the boxes on the left.

# %%
shown = SMALL_PANEL_FACES if SMALL else len(analysis.records)
fig = plot_face_panel(annotate(rgb, analysis.records[:shown], numbers=True),
                      analysis.records[:shown], analysis.crops[:shown],
                      figure_dir / "group_photo_panel.png", recognizer.class_names)

# %% [markdown]
# ## The JSON as a table
#
# One row per face: box in pixels, detector confidence, calibrated probabilities. The same
# content is in `results.json` and `results.csv` in the output folder.

# %%
table = faces_table(analysis.records, recognizer.class_names)
display(table.round(3))
print(table["top_emotion"].value_counts().to_string())
print("figures written:", *(shown_path(figure_dir / name)
                            for name in ("group_photo.png", "group_photo_panel.png")))
