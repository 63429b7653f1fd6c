"""A rebuild's child process, told to stop, finishes dropping its scratch schemas."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

# A child as `rebuild_processes._child` sets itself up; its cleanup (the `finally`) takes
# a while, as dropping the scratch schemas can on a busy database.
CHILD = """
import sys, time
from pathlib import Path
from paysource.entrypoints.rebuild_processes import _stop_only_when_told

_stop_only_when_told()
out = Path(sys.argv[1])
try:
    out.write_text("working")
    time.sleep(60)
finally:
    time.sleep(1.0)
    out.write_text("cleaned up")
"""


def test_a_second_sigterm_does_not_cut_the_cleanup_short(tmp_path: Path) -> None:
    out = tmp_path / "state"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)])
    try:
        deadline = time.monotonic() + 30
        while not out.exists():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.02)
        child.send_signal(signal.SIGTERM)  # the parent's terminate()
        time.sleep(0.3)
        child.send_signal(signal.SIGTERM)  # multiprocessing's exit handler, mid-cleanup
        assert child.wait(timeout=30) == 143
    finally:
        child.kill()
        child.wait()
    assert out.read_text() == "cleaned up"
