# %% [markdown]
# # 02 · Augmentation and class imbalance
#
# The original study augmented with Keras 2's `ImageDataGenerator`, which Keras 3 keeps only
# as a deprecated `tf.keras` legacy API. Here the same settings are Keras preprocessing layers
# that run inside the training graph (`emotion_classification.data.augmentation`), so augmentation
# never starves the model and the same code runs on the TensorFlow, JAX and PyTorch backends.
#
# | ImageDataGenerator (study) | Keras 3 layer (this project) |
# |---|---|
# | `rotation_range=10` | `RandomRotation(10 / 360)` (factor is a fraction of a full turn) |
# | `zoom_range=0.2` | `RandomZoom(0.2)` (keeps the aspect ratio; IDG zoomed each axis apart) |
# | `width_shift_range=0.1`, `height_shift_range=0.1` | `RandomTranslation(0.1, 0.1)` |
# | `horizontal_flip=True` | `RandomFlip("horizontal")` |
# | `fill_mode="nearest"` | `fill_mode="nearest"` on every geometric layer |
# | `rescale=1/255` | inside the model (`Rescaling`), not part of augmentation |
#
# `AUGMENTATION = "seed"` chains those four layers exactly. The project's default
# (`"default"`) draws the same rotation, zoom, shift and flip but composes them into one
# affine matrix (`augmentation.RandomAffine`, built on `keras.ops.image.affine_transform`), so
# each face is resampled once instead of three times: see the blur discussion below.

# %% tags=["parameters"]
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
FIGURE_DIR = "reports/figures"  # relative paths start at the project root
SMALL = False  # True: a handful of images per class (tests and quick checks)
AUGMENTATION = "default"  # seed, default, erase or none (see augmentation.build_augmentation)
N_VARIANTS = 15  # augmented copies shown
SEED = 0

# %%
import numpy as np
import pandas as pd
from IPython.display import display

from emotion_classification.data import augmentation
from emotion_classification.data import fer2013 as data
from emotion_classification.training import loop as train
from emotion_classification.training.config import TrainConfig
from emotion_classification.utils import plots
from emotion_classification.utils.files import project_path

figure_dir = project_path(FIGURE_DIR)
train_split = data.load_fer2013(DATA_DIR, splits=("train",))["train"]
if SMALL:
    train_split = data.small_subset(train_split, 5, SEED)
print(f"{len(train_split):,} train images")

# %% [markdown]
# ## One face and its augmented variants
#
# Each geometric layer resamples the image bilinearly. Chained, the study's three layers blur
# every face three times, so the net trains on blurred faces and predicts on sharp ones, and
# the batch-norm statistics gathered on blurred faces no longer fit the sharp faces it is
# asked about. The default `RandomAffine` resamples once, so its variants stay sharp (compare
# `AUGMENTATION = "seed"`), and `train.recalibrate_batch_norm` still recomputes the
# statistics on the clean training images after training.

# %%
happy = np.flatnonzero(train_split.labels == data.CLASS_NAMES.index("happy"))
face = train_split.images[happy[0]]
variants = augmentation.augment_examples(face, N_VARIANTS, AUGMENTATION, SEED)
fig = plots.plot_augmentation_grid(face, variants, figure_dir / "augmentation_grid.png")

# %% [markdown]
# ## Class imbalance: weighting the loss
#
# Disgust has about 16x fewer train images than happy. The study hoped augmentation would
# give the rare classes more examples, but augmenting every class equally leaves the ratio as
# it was. `TrainConfig.class_weighting` offers three treatments of the loss: `none`, `sqrt`
# (each image weighs `1/sqrt(class count)`, normalised so the average image weighs 1: disgust
# counts about 4x as much per image as happy) and `balanced` (`1/count`, every class the same
# total weight). Oversampling the rare classes would do the same job as weighting with more
# repeated images per epoch, so it is not offered.
#
# The figure shows each class's share of the loss under each option. The choice was measured,
# not assumed: the final recipe was trained twice, identical but for the weighting, and
# validation accuracy was slightly higher unweighted, so the default is `none` (see
# `docs/experiments.md` for both runs). Without weighting the model still finds disgust (its
# test recall is in `docs/model_card.md`). `sqrt` remains one flag away
# (`--class-weighting sqrt`) for users who care more about the rare classes than about
# overall accuracy.

# %%
counts = np.bincount(train_split.labels, minlength=len(data.CLASS_NAMES))
options = ("none", "sqrt", "balanced")
weightings = {mode: train.class_weights(train_split.labels, mode) for mode in options}
display(pd.DataFrame({"images": counts,
                      **{f"{mode}: weight per image": w.round(3) for mode, w in weightings.items()},
                      **{f"{mode}: share of loss": (counts * w / counts.sum()).round(3)
                         for mode, w in weightings.items()}}, index=data.CLASS_NAMES))
print(f"default: class_weighting={TrainConfig().class_weighting!r}")
fig = plots.plot_class_balance(counts, weightings, figure_dir / "class_balance.png")
