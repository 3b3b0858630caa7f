"""Local worker processes end without Python's slow unloading of TensorFlow and the OCR models.

A DirectRunner worker process (--direct_running_mode multi_processing) holds TensorFlow, the
CNN and the OCR sessions. When its harness returns, every output is already with the launcher
and every stage torn down, yet Python's own finalisation still takes 2-4 s to unload them while
the launcher waits: a fixed cost of every local run, about 7% of a second night on a warm store.
The launcher names itself to its workers (`for_local_workers`); a worker's stage setup then
registers an exit hook (`exit_fast_when_done`) that flushes logging and the standard streams and
ends the process at once. Other runners' workers, and the launcher itself, are left alone; a
worker that died of an uncaught exception keeps Python's normal exit and its exit code.
"""
import atexit
import contextlib
import logging
import os
import sys

LAUNCHER_ENV = 'SPECSCAN_LAUNCHER_PID'
_hooked = False


@contextlib.contextmanager
def for_local_workers(direct_multi_processing: bool):
    """While the job runs, worker processes it starts (they inherit the environment) may exit fast."""
    if not direct_multi_processing:
        yield
        return
    earlier = os.environ.get(LAUNCHER_ENV)
    os.environ[LAUNCHER_ENV] = str(os.getpid())
    try:
        yield
    finally:
        if earlier is None:
            os.environ.pop(LAUNCHER_ENV, None)
        else:
            os.environ[LAUNCHER_ENV] = earlier


def exit_fast_when_done() -> bool:
    """Called from stage setups: in a local worker process, end it at exit without finalisation.
    True when the hook is (already) in place."""
    global _hooked
    launcher = os.environ.get(LAUNCHER_ENV)
    if not _hooked and launcher and launcher != str(os.getpid()):
        atexit.register(_exit_now)
        _hooked = True
    return _hooked


def _exit_now() -> None:
    """The last word of a local worker: atexit runs it before the handlers registered earlier
    (Beam's, gRPC's, logging's own shutdown), which it skips."""
    if getattr(sys, 'last_value', None) is not None:  # died of an uncaught exception: exit as Python would
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)
