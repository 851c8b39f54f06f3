# %% [markdown]
# # 07 · What does the model do on my photo?
#
# Pick a photo, then move the settings and watch the boxes and each face's probabilities
# change:
#
# * **photo**: a photo from `data/photos/` or matplotlib's sample portrait (dropdown), any
#   path typed in the box (relative paths start at the project root, press Enter), or a file
#   uploaded from your browser;
# * **detector**: MTCNN's confidence a face must reach to be reported. Lower finds more
#   faces, and more things that are not faces;
# * **uncertain**: the calibrated top probability below which a face is marked uncertain.
#   It starts at the threshold chosen on the validation split, where confident faces
#   are right at least 80% of the time;
# * **flip TTA**: average each face's prediction with its mirror image's;
# * **align eyes**: rotate each face so the eyes are level before classifying.
#
# Green boxes are confident faces; red ones have a top probability below the uncertain
# threshold (the study's rule of a detector under 0.99 sure is off by default:
# `docs/model_card.md` says why).
# MTCNN runs once per photo and detector threshold: the other controls only re-classify the
# faces already found, so they answer at once. The widgets need a running kernel; the last
# cell keeps a still picture of the view. All the logic is in
# `emotion_classification.inference.interactive`;
# `python -m emotion_classification predict PHOTO --panel` gives the same result as files.

# %% tags=["parameters"]
IMAGE_PATH = None  # first photo shown; None: the first in data/photos/, else the sample
MODEL_PATH = None  # .keras model; None means the committed models/emotion_cnn.keras
FIGURE_DIR = "outputs/interactive"  # the still picture of the view goes here
DETECTOR_THRESHOLD = 0.9  # the detector slider's starting value
PANEL_FACES = None  # faces with a probability chart; None: all (6 in small mode)
SMALL = False  # True: photos shrunk to 512 px, the sample portrait first

# %%
import pandas as pd
from IPython.display import display

from emotion_classification.inference.images import sample_photo
from emotion_classification.inference.interactive import (
    SMALL_MAX_SIDE_PX,
    PhotoExplorer,
    build_controls,
    photo_choices,
)
from emotion_classification.inference.recognizer import faces_table, recognizer_for_notebook
from emotion_classification.utils.files import project_path, shown_path

SMALL_PANEL_FACES = 6
VIEW_FIGURE = "interactive_view.png"

recognizer, which_model = recognizer_for_notebook(MODEL_PATH, small=SMALL)
explorer = PhotoExplorer(recognizer, max_side_px=SMALL_MAX_SIDE_PX if SMALL else None,
                         panel_faces=SMALL_PANEL_FACES if SMALL and PANEL_FACES is None
                         else PANEL_FACES)
choices = photo_choices()
first = project_path(IMAGE_PATH) if IMAGE_PATH else (sample_photo() if SMALL else None)
controls = build_controls(explorer, choices, first, DETECTOR_THRESHOLD)
print(which_model)
display(controls.box)

# %% [markdown]
# ## The view as it stands
#
# A still copy of the figure above, with the settings it was drawn with, and the faces as a
# table (box in pixels, detector confidence, calibrated probabilities).

# %%
figure_path = project_path(FIGURE_DIR) / VIEW_FIGURE
print(controls.status.value)
print(controls.settings())
fig = explorer.figure(controls.analysis, figure_path)
print("figure written:", shown_path(figure_path))

# %%
display(faces_table(controls.analysis.records, recognizer.class_names).round(3))
