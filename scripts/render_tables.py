"""Render the Markdown tables of README.md and docs/*.md from the committed JSON records.

    python scripts/render_tables.py --check    # exit 1 naming each stale table
    python scripts/render_tables.py --write    # rewrite the stale tables in place

The renderer lives in the package (:mod:`emotion_classification.evaluation.tables`), so
``promote`` needs nothing outside it: it renders staged copies from its staged records.
"""

import sys

from emotion_classification.evaluation.tables import main

if __name__ == "__main__":
    sys.exit(main())
