"""``python -m emotion_classification``: the command-line entry point.

Ctrl-C at any moment, even while the modules load, ends with one line and status 130.
"""

import sys

from emotion_classification.utils.console import (
    INTERRUPTED_STATUS,
    exit_process,
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
exit_process(status)
