"""``hyperstep``, the console script, and ``python -m hyperstep``: Ctrl-C while the command
line is still loading (numpy, scipy, pydantic, boto3: about 0.4 s) ends it as Ctrl-C does
later (``cli.main``): exit code 130 and one line, not a ``KeyboardInterrupt`` traceback."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

INTERRUPTED = 130


def main() -> int:
    # Python's own handler is the one that prints a traceback (SIG_IGN: started in the
    # background, nohup or `&` in a script, where Ctrl-C stays ignored)
    loading = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if loading:
        signal.signal(signal.SIGINT, _interrupted_while_loading)
    from hyperstep.blas import use_one_thread

    use_one_thread()  # before numpy loads (``hyperstep.blas``)
    from hyperstep.cli import main as command_line

    if loading:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return command_line()
    except KeyboardInterrupt:  # before cli.main's own handling begins (its parser being built)
        _say_interrupted()
        return INTERRUPTED


def _interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    """Nothing is open or written yet; a ``KeyboardInterrupt`` raised inside an import could
    be caught there or leave a module half-loaded, so the process ends here."""
    _say_interrupted()
    os._exit(INTERRUPTED)


def _say_interrupted() -> None:
    os.write(sys.stderr.fileno(), b"hyperstep: interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
