"""``python -m emotion_classification``: the command-line entry point.

Ctrl-C at any moment, even while the modules load, ends with one line and status 130.
"""

import os
import sys

from emotion_classification.utils.console import (
    INTERRUPTED_STATUS,
    install_interrupt_handler,
    interrupt_received,
)

install_interrupt_handler()
try:
    from emotion_classification.cli import main

    status = main()
except Exception:
    if not interrupt_received():
        raise
    print("error: interrupted", file=sys.stderr)
    status = INTERRUPTED_STATUS
except KeyboardInterrupt:
    print("error: interrupted", file=sys.stderr)
    status = INTERRUPTED_STATUS
if status == INTERRUPTED_STATUS:
    # An interrupted run has said its one line and saved what it did: end now, so a signal
    # still pending in TensorFlow's shutdown cannot turn status 130 into death by SIGINT.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
sys.exit(status)
