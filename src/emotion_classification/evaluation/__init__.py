"""Evaluation: the FER2013 test folder, other datasets, explanations, EDA, the photo pipeline, the notebooks."""
