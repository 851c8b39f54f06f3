# %% [markdown]
# # 06 · What the model looks at: Grad-CAM
#
# A test accuracy says how often the model is right, not *why*. Grad-CAM (Selvaraju et al.,
# 2017) gives a coarse answer for a single image: it takes the last convolutional feature map,
# weights each of its channels by how much the class score rises when that channel rises (the
# mean gradient), and keeps the positive sum. The result, upsampled to 48x48 and scaled to
# 0..1, marks the regions whose features pushed the score of the explained class up.
#
# Below, for every class, a few test images with the map of the class the model **predicted**
# drawn over the face (red = strongest). Titles read *true / predicted* with the predicted
# probability, green when right and red when wrong.
#
# Caveats: the last feature map is only 6x6, so a map can say "mouth" or "eyes" but not
# "left corner of the mouth"; and a map shows where evidence came from, not whether that
# evidence is a sensible reason.
#
# All logic lives in `emotion_classification.evaluation.explain`; the next cell holds the parameters
# (`python -m emotion_classification notebooks 06 -p PER_CLASS 6` overrides one).

# %% tags=["parameters"]
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
MODEL_PATH = None  # .keras model; None means the committed models/emotion_cnn.keras
FIGURE_DIR = "reports/figures"  # relative paths start at the project root
SMALL = False  # True: quick check; an untrained small model if the committed one is missing
PER_CLASS = 4  # test images shown per class (one row per class)
SEED = 0  # which test images are picked

# %%
from emotion_classification.data.fer2013 import load_fer2013
from emotion_classification.evaluation.explain import (
                         GRAD_CAM_FIGURE,
                         model_for_notebook,
                         plot_grad_cam_grid,
)
from emotion_classification.utils.files import project_path, shown_path

figure_dir = project_path(FIGURE_DIR)
model, which_model = model_for_notebook(MODEL_PATH, small=SMALL)
test = load_fer2013(DATA_DIR, splits=("test",))["test"]
print(which_model)
print(f"test folder: {len(test):,} images; showing {PER_CLASS} per class")

# %% [markdown]
# ## Grad-CAM of the predicted class, per true class

# %%
fig = plot_grad_cam_grid(model, test, per_class=PER_CLASS, path=figure_dir / GRAD_CAM_FIGURE,
                         seed=SEED)
print("figure written:", shown_path(figure_dir / GRAD_CAM_FIGURE))

# %% [markdown]
# ## What the maps show
#
# Read from the committed model's figure (four test images per class, seed 0); with so few
# images these are illustrations, not measurements.
#
# * **Happy**: the maps sit on the mouth corner and cheek, the smile, in three of the four
#   images; the fourth looks at an eye.
# * **Surprise**: broad maps over the centre of the face, from the eyes down to the open
#   mouth: wide eyes together with the open mouth separate it from fear.
# * **Disgust**: the nose, upper lip and cheek (the wrinkled nose) in three images; the one
#   predicted angry has a small spot on the cheek only.
# * **Fear** and **angry**: compact spots on the mouth, the nose or between the eyes, in right
#   and wrong predictions alike, which fits their confusion with sad and each other.
# * **Neutral** and **sad**: small spots in varied places (an eye, the forehead, a hand on the
#   face): the model has no single cue for them, and they are the most confused pair.
# * None of these 28 maps is empty: for every face some region of the last 6x6 feature map
#   raised the predicted class's score.
