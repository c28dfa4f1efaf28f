"""`python -m pcmk_launch` (and the `pcmk-launch` script pip installs): what PID 1 of the
container runs.

Signals are blocked first thing (on import: the script imports this module, then calls main),
so one that arrives while the config is rendered stays pending for the supervisor instead of
being lost. The command line is handled (validated, rendered, written) in a forked child, so
jinja2 and the validators never load into PID 1 and no second interpreter has to start: the
child hands back, through a pipe, what this process is to become, the supervisor (its
options.Options as a JSON object, and the daemons' environment) or a user's command.
"""

from __future__ import annotations

import signal

signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP})

import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

TYPE_CHECKING = False  # typing stays out of PID 1; mypy reads it
if TYPE_CHECKING:
    from typing import Any


def run_cli_in_child() -> tuple[int, dict[str, Any] | None]:
    """The cli's exit code and its hand-off (None: nothing to become, just exit)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            from .cli import main

            def handoff(what: dict[str, Any]) -> None:
                with os.fdopen(w, "w") as pipe:
                    json.dump(what, pipe)

            code = main(handoff=handoff)
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):  # stdout may be closed
                    stream.flush()
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return (128 - code if code < 0 else code), (json.loads(data) if data else None)


def exec_command(argv: list[str]) -> int:
    """Run a user command instead of the cluster, as docker-entrypoint scripts do."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"pcmk-launch: cannot run {argv[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126


def main() -> int:
    code, what = run_cli_in_child()
    if what is None:
        return code
    if "exec" in what:
        return exec_command(what["exec"])
    os.environ.update(what["env"])
    from .options import Options
    from .supervisor import main as supervise

    return supervise(Options.from_dict(what["supervise"]))


if __name__ == "__main__":  # python -m pcmk_launch, and image/pcmk-launch (runpy)
    sys.exit(main())
