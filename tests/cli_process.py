"""``python cli.py …`` as a user runs it, for the tests of the command line.

Every call is a process of its own: its exit code, stdout and stderr, and the files it leaves are
what a user gets. Starting Python and importing kerascc is most of a short command's second, and
the suite runs hundreds of them, so :func:`run_cli` asks a server process (one per test process)
that imported the CLI's modules once to fork a child per call. The server never runs a command
itself, so each child starts from the same pristine state: the working directory, environment,
``sys.argv`` and standard streams of the call, and ``cli.py`` run as ``__main__`` exactly as
``python cli.py`` runs it (script folder first on ``sys.path``, not the working directory).

A test about what a command imports or how long Python takes to start passes ``fresh=True`` for a
new interpreter; so does every call where there is no ``fork``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "cli.py"

# The server: imports the CLI once, then forks a child per request line on its stdin and answers
# with the child's pid, then its exit status, one JSON line each on its stdout.
_SERVER = r"""
import json, os, runpy, sys, traceback
root, script = sys.argv[1], sys.argv[2]
requests = os.fdopen(os.dup(0), "rb")
replies = os.fdopen(os.dup(1), "wb")
quiet = os.open(os.devnull, os.O_RDWR)
os.dup2(quiet, 0)
os.dup2(quiet, 1)  # nothing an import prints may reach the replies
sys.path[:] = [root] + [p for p in sys.path if p not in ("", root)]
import cli  # noqa: F401  (the modules every command needs, imported once, run by none)
for line in requests:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            requests.close()
            replies.close()
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            os.dup2(os.open(request["stdout"], os.O_WRONLY | os.O_TRUNC), 1)
            os.dup2(os.open(request["stderr"], os.O_WRONLY | os.O_TRUNC), 2)
            sys.argv = [script, *request["args"]]
            try:
                runpy.run_path(script, run_name="__main__")
                code = 0
            except SystemExit as exc:
                if exc.code is None or isinstance(exc.code, int):
                    code = exc.code or 0
                else:
                    print(exc.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    replies.write(json.dumps({"pid": pid}).encode() + b"\n")
    replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
    replies.flush()
"""


class _Server:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._pid != os.getpid() or self._proc.poll() is not None:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _SERVER, str(ROOT), str(CLI)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
                env=env,
            )
            self._pid = os.getpid()
        return self._proc

    def run(self, args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, str] | None:
        """The call's exit status, stdout and stderr; None if the server itself is gone."""
        with self._lock, tempfile.TemporaryDirectory(prefix="cli-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            out.touch()
            err.touch()
            proc = self._started()
            assert proc.stdin is not None and proc.stdout is not None
            request = {"args": args, "cwd": str(cwd), "env": env, "stdout": str(out), "stderr": str(err)}
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
                started = proc.stdout.readline()
            except BrokenPipeError:
                started = b""
            if not started:
                self.close()
                return None
            killed = threading.Event()
            timer = threading.Timer(timeout, _kill, (json.loads(started)["pid"], killed))
            timer.start()
            try:
                ended = proc.stdout.readline()
            finally:
                timer.cancel()
            if killed.is_set():
                raise subprocess.TimeoutExpired([sys.executable, str(CLI), *args], timeout)
            if not ended:
                self.close()
                return None
            return json.loads(ended)["status"], _text(out), _text(err)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or self._pid != os.getpid():
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _kill(pid: int, killed: threading.Event) -> None:
    killed.set()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _text(path: Path) -> str:
    # as subprocess.run(text=True) decodes: the locale's encoding, universal newlines
    return path.read_bytes().decode().replace("\r\n", "\n").replace("\r", "\n")


_SERVER_PROCESS = _Server()
atexit.register(_SERVER_PROCESS.close)


def run_cli(
    *args: Any,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    fresh: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python cli.py *args`` in ``cwd`` (default: the repository) with ``env`` over this process's
    environment; wide columns, so a message is never wrapped."""
    argv = [str(a) for a in args]
    environment = {**os.environ, "COLUMNS": "400", "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    where = Path(cwd) if cwd is not None else ROOT
    command = [sys.executable, str(CLI), *argv]
    if fresh or not hasattr(os, "fork"):
        return subprocess.run(
            command, capture_output=True, text=True, cwd=where, env=environment, timeout=timeout, check=False
        )
    done = _SERVER_PROCESS.run(argv, where, environment, timeout)
    if done is None:  # the server could not start or died: this call starts its own Python
        return run_cli(*args, cwd=cwd, env=env, timeout=timeout, fresh=True)
    code, out, err = done
    return subprocess.CompletedProcess(command, code, out, err)
