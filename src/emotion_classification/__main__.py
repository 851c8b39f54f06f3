"""``python -m emotion_classification``: the command-line entry point."""

import sys

from emotion_classification.cli import main

sys.exit(main())
