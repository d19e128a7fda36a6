"""What the tests that start child processes share."""

import contextlib


@contextlib.contextmanager
def reaped(*procs):
    """Kills and reaps the children that are still running when the block ends (a failed test)."""
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
