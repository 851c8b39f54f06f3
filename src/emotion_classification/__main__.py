"""``python -m emotion_classification``: the command-line entry point.

Ctrl-C at any moment, even while the modules load, ends with one line and status 130.
"""

import sys

try:
    from emotion_classification.cli import main

    status = main()
except KeyboardInterrupt:
    print("error: interrupted", file=sys.stderr)
    status = 130
sys.exit(status)
