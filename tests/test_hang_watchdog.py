"""tests/conftest.py's watchdog: a test stuck where pytest-timeout cannot reach it still ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

STUCK = """
import signal, time

def test_before():
    pass

def test_stuck_where_no_alarm_arrives():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # pytest-timeout's alarm is never delivered
    time.sleep(120)
"""


def test_a_test_blocked_past_its_timeout_ends_the_run_with_its_stack(tmp_path: Path) -> None:
    (tmp_path / "test_stuck.py").write_text(STUCK)
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-o", "timeout=1", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    took = time.monotonic() - started
    assert proc.returncode != 0
    # soft limit 1 s, then the watchdog a second later: the run ends in seconds, not in 120
    assert took < 60, took
    assert "Timeout (0:00:02)!" in proc.stderr, proc.stderr[-2000:]
    assert 'test_stuck.py", line 9 in test_stuck_where_no_alarm_arrives' in proc.stderr, proc.stderr[-2000:]
