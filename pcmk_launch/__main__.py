"""`python -m pcmk_launch`. Signals are blocked first thing, so one that arrives while the
config is rendered stays pending for the supervisor instead of being lost."""

import signal

signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP})

import sys  # noqa: E402

from .cli import main  # noqa: E402

sys.exit(main())
