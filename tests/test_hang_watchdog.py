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


def _pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest on ``folder`` with tests/conftest.py as its only plugin, as a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(HERE)},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_a_test_blocked_past_its_timeout_ends_the_run_with_its_stack(tmp_path: Path) -> None:
    (tmp_path / "test_stuck.py").write_text(STUCK)
    started = time.monotonic()
    proc = _pytest_in(tmp_path, "-o", "timeout=1")
    took = time.monotonic() - started
    assert proc.returncode != 0
    # soft limit 1 s, then the watchdog a second later: the run ends in seconds, not in 120
    assert took < 60, took
    assert "Timeout (0:00:02)!" in proc.stderr, proc.stderr[-2000:]
    assert 'test_stuck.py", line 9 in test_stuck_where_no_alarm_arrives' in proc.stderr, proc.stderr[-2000:]


def test_with_timeouts_off_the_watchdog_stays_away(tmp_path: Path) -> None:
    """``--timeout 0`` over the configured limit (as when debugging) leaves a slow test alone."""
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_slow():\n    time.sleep(4)\n")
    proc = _pytest_in(tmp_path, "-o", "timeout=1", "--timeout", "0")
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout + proc.stderr
