# %% [markdown]
# # 01 · Exploring FER2013
#
# FER2013 holds 48x48 grayscale face crops labelled with one of seven emotions. Before
# training anything we look at three things:
#
# 1. **How many images each class has**, in the train and test folders. A very unbalanced
#    dataset makes plain accuracy hide how the rare classes do.
# 2. **What the faces look like**: one random sample per class.
# 3. **Pixel intensity per class**: if one class were much brighter or darker than the rest,
#    a model could learn the lighting instead of the expression.
#
# All logic lives in `emotion_classification.evaluation.eda`; this notebook only calls it and shows the
# results. The next cell holds the parameters; override them from the command line, e.g.
# `python -m emotion_classification notebooks 01 -p SEED 3`, or `--small` for a quick check.

# %% tags=["parameters"]
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
FIGURE_DIR = "reports/figures"  # relative paths start at the project root
SMALL = False  # True: a handful of images per class (tests and quick checks)
SEED = 0  # which random sample of each class is shown

# %%
from IPython.display import display

from emotion_classification.evaluation import eda
from emotion_classification.utils.files import project_path, shown_path
from emotion_classification.utils.plots import plot_class_counts, plot_class_samples

figure_dir = project_path(FIGURE_DIR)
splits = eda.load_for_eda(DATA_DIR, small=SMALL, seed=SEED)
train, test = splits["train"], splits["test"]
print(f"train: {len(train):,} images, test: {len(test):,} images"
      + (" (small-data mode)" if SMALL else ""))

# %% [markdown]
# ## Images per class
#
# Counts of the train and test folders side by side, with each class's share. The test
# folder is only ever used for the final evaluation.

# %%
counts = eda.count_table(splits)
display(counts)
fig = plot_class_counts(counts, figure_dir / eda.FIGURE_FILES["counts"])

# %%
print(eda.imbalance_sentence(train.labels))

# %% [markdown]
# With a ratio like this, predicting *happy* for every uncertain face is rewarded and
# *disgust* is rarely predicted. Training can weight the loss by class
# (`--class-weighting sqrt` or `balanced`; see notebook 02), but by default it does not:
# validation accuracy was as good or better without weighting. Either way plain accuracy
# alone is a poor summary: per-class recall tells how the rare classes do.

# %% [markdown]
# ## One face per class
#
# A random image of each class, in grayscale as the model sees it (change `SEED` for others).

# %%
fig = plot_class_samples(train.images, train.labels, figure_dir / eda.FIGURE_FILES["samples"],
                         seed=SEED)

# %% [markdown]
# ## Pixel intensity per class
#
# For every train image: the mean (brightness), standard deviation (contrast) and median of
# its pixels, then summarised per class. Where the classes' boxes overlap heavily, brightness
# alone cannot tell the emotion, even if one class is a little brighter on average.

# %%
display(eda.intensity_by_class(train))
fig = eda.plot_pixel_intensity(train, figure_dir / eda.FIGURE_FILES["intensity"])

# %%
print("figures written:")
for name in eda.FIGURE_FILES.values():
    print(" ", shown_path(figure_dir / name))
