"""Run ``facegate`` command lines as real child processes, forked from one warm interpreter.

Each case is its own process (``os.fork``), with its own exit status and its stdout and stderr
written to files by the real file descriptors, exactly as ``python -m desktop_app ARGS`` would
run it, except that the interpreter start and the imports (numpy, OpenCV, ONNX Runtime, the CLI:
about 0.4 to 1.4 s of CPU per process) are paid once. A case that escapes ``cli.main`` prints the
traceback to its stderr, as a fresh interpreter would, so a test still sees it.

Protocol (one JSON object per line): stdin ``{"argv": [...], "out": PATH, "err": PATH}``; stdout
``{"rc": N}`` when the case has ended. Started as ``python tests/reliability/fork_runner.py``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _child(argv: list[str], out: str, err: str) -> None:
    """In the forked child: point fd 1 and 2 at the files, run the command, exit with its status."""
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)  # never the runner's protocol pipe
        os.dup2(devnull, 0)
        os.close(devnull)
        for fd, path in ((1, out), (2, err)):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(handle, fd)
            os.close(handle)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        sys.argv = ["facegate", *argv]
        from desktop_app.cli import main

        try:
            code = int(main(argv) or 0)
        except SystemExit as exc:  # argparse, or a command that exits
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what a fresh interpreter would print: the test looks for it
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    import cv2  # noqa: F401 - the imports every case would pay, paid once
    import numpy  # noqa: F401
    import onnxruntime  # noqa: F401

    import desktop_app.cli
    import desktop_app.core.service  # noqa: F401

    for line in sys.stdin:
        case = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(list(case["argv"]), str(case["out"]), str(case["err"]))
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        print(json.dumps({"rc": rc}), flush=True)


if __name__ == "__main__":
    serve()
