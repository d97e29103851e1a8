"""A test that hangs where no Python code runs ends its process, with every thread's stack.

pytest-timeout (``timeout`` in pyproject.toml) fails a slow test with an exception in its main
thread; that needs the thread to come back to Python. A test blocked inside a native library (a
runtime's thread pool, a lock taken in C) never does, and the whole run would wait for CI's limit.
So each test also arms faulthandler's watchdog, a C thread that needs no interpreter lock:
``HARD_TIMEOUT_MARGIN`` seconds past the soft limit it writes every thread's Python stack to the
terminal and ends the test process. Under pytest-xdist that is one crashed worker, reported with
the test it was running, and the run goes on in a new one.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator
from typing import IO

import pytest

#: Seconds past pytest-timeout's own limit (at most that limit again), so a test that can still be
#: interrupted fails in the ordinary way first.
HARD_TIMEOUT_MARGIN = 60.0

_terminal: IO[str] | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _terminal
    # the terminal as it was before output capture: a dump written during a test reaches it
    _terminal = os.fdopen(os.dup(2), "w")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _terminal
    faulthandler.cancel_dump_traceback_later()
    if _terminal is not None:
        _terminal.close()
        _terminal = None


def _hard_timeout(item: pytest.Item) -> float | None:
    """Seconds before the watchdog ends the process; None where pytest-timeout is off (``--timeout 0``,
    or a debugger session), so a test being debugged is never cut short."""
    config = item.config
    if config.getoption("usepdb", False) or config.getoption("trace", False):
        return None
    marker = item.get_closest_marker("timeout")
    if marker and marker.args:
        soft = marker.args[0]
    else:  # --timeout on the command line over the ini file's, as pytest-timeout takes them
        soft = config.getoption("timeout", None)
        soft = config.getini("timeout") if soft is None else soft
    soft = float(soft or 0)
    return soft + min(HARD_TIMEOUT_MARGIN, soft) if soft > 0 else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    limit = _hard_timeout(item)
    if _terminal is None or limit is None:
        return (yield)
    faulthandler.dump_traceback_later(limit, exit=True, file=_terminal)
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()
