# %% [markdown]
# # 04 · Evaluation
#
# Honest numbers for a saved model: accuracy, macro-F1 and per-class scores on the full FER2013
# test folder and on its PublicTest and PrivateTest halves; flip test-time augmentation;
# temperature scaling and the 'uncertain' threshold, both fitted on the validation split of the
# train folder (never on test). `python -m emotion_classification evaluate` runs the same code.

# %% tags=["parameters"]
MODEL_PATH = None  # None: the committed models/emotion_cnn.keras
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
# None: outputs/evaluation/<stem>/ for a model in models/; for any other model
# <stem>.figures/ and <stem>.evaluation.json beside it (promote alone writes reports/)
FIGURE_DIR = None  # relative paths start at the project root
REPORT_PATH = None
SMALL = False  # True: 20 images per class, no report, figures to a temporary folder
SEED = 0  # which random test images the gallery shows

# %%
import pandas as pd
from IPython.display import Image, display

from emotion_classification.evaluation import evaluate
from emotion_classification.utils.files import shown_path

figure_dir, report_path = evaluate.notebook_outputs(MODEL_PATH, FIGURE_DIR, REPORT_PATH,
                                                    small=SMALL)
report = evaluate.evaluate(MODEL_PATH, DATA_DIR, small_per_class=20 if SMALL else 0,
                           figure_dir=figure_dir, report_path=report_path, seed=SEED)
print(f"figures in {shown_path(figure_dir)}; report in "
      f"{shown_path(report_path) if report_path else 'none (small-data mode)'}")
evaluate.summary_table(report)

# %% [markdown]
# ## Per-class scores on the full test folder

# %%
evaluate.per_class_table(report['splits']['test'])

# %% [markdown]
# ## Confusion matrix and the most-confused pairs

# %%
display(Image(filename=str(figure_dir / "confusion_matrix.png")))
pd.DataFrame(report["most_confused"])

# %% [markdown]
# ## Random test images (the study's gallery) and the most confident mistakes

# %%
display(Image(filename=str(figure_dir / "test_gallery.png")))
display(Image(filename=str(figure_dir / "confident_mistakes.png")))

# %% [markdown]
# ## Calibration and the 'uncertain' rule
#
# Temperature scaling divides the log-probabilities by one number fitted on validation. A face
# is *uncertain* when its calibrated top probability is below the lowest threshold at which the
# confident validation faces are right at least 80% of the time; the test numbers below show
# how the rule holds on unseen data.

# %%
display(Image(filename=str(figure_dir / "reliability.png")))
calibration = report["calibration"]
pd.DataFrame({"validation": calibration["validation_rule"], "test": calibration["test_rule"]})
