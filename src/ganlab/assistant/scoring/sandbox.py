"""Run model-written Python against tests, in a child process that cannot do much harm.

The child is a fresh ``python -I -B`` (no user site, no script directory on ``sys.path``, no
bytecode written) in an empty temporary folder, with a minimal environment and no stdin. The
operating system enforces the limits: ``setrlimit`` caps address space, CPU seconds and file
size in the child, and the parent kills the whole process group when the wall-clock limit
passes. Before the generated code runs, the child installs an audit hook (which Python offers
no way to remove) that refuses sockets, subprocesses, ``os.system`` / ``exec*`` / ``fork`` /
``posix_spawn``, signals to other processes, ``ctypes``, and writing or deleting files outside
its folder.

Limits: this guards against accidents and careless code, which is what small models write. It
is not a jail: the audit hook lives in the same interpreter as the code, reading files is
allowed, and hostile code could in principle reach the runner's objects. Run code from
untrusted people in a container.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ganlab.errors import ConfigError

TAIL_CHARS = 2000


@dataclass(frozen=True)
class Limits:
    """What one run may use: wall-clock and CPU seconds, address space, bytes written to a file
    (stdout and stderr included, so a print loop cannot fill the disk)."""

    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    file_mb: int = 8

    def __post_init__(self) -> None:
        if self.wall_s <= 0 or self.cpu_s < 1 or self.memory_mb < 64 or self.file_mb < 1:
            raise ConfigError(
                f"sandbox limits {self} must have wall_s > 0, cpu_s >= 1, memory_mb >= 64 "
                "(the interpreter itself needs some) and file_mb >= 1"
            )


@dataclass(frozen=True)
class SandboxResult:
    """How a run ended.

    ``status`` is one of "passed", "failed" (an assertion in the tests failed), "error" (any
    other exception, a syntax error included), "blocked" (the code tried something the sandbox
    refuses and did not pass), "timeout" (wall-clock or CPU limit), "memory" (MemoryError under
    the address-space limit), "output_limit" (the file-size limit, stdout included) or
    "crashed" (the interpreter died without reporting, e.g. a segfault).
    """

    status: str
    error_kind: str = ""
    message: str = ""
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    returncode: int | None = None
    violations: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def timed_out(self) -> bool:
        return self.status == "timeout"

    @property
    def killed_by_memory(self) -> bool:
        return self.status == "memory"


# The child's entry point. It opens its result file and sets its limits before the audit hook
# exists, then runs the solution and the tests in one namespace.
_RUNNER = r"""
import errno, json, os, resource, sys, traceback, types

result_path, work, limits = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
result = open(result_path, "w")
mb = 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] * mb,) * 2)
resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_mb"] * mb,) * 2)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

BLOCKED_PREFIXES = (
    "socket.", "subprocess.", "os.system", "os.exec", "os.fork", "os.posix_spawn", "os.spawn",
    "os.kill", "os.killpg", "os.startfile", "pty.", "ctypes.", "signal.pthread_kill",
)
BLOCKED_IMPORTS = {"ctypes", "_ctypes", "_posixsubprocess", "multiprocessing"}
PATH_EVENTS = {
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
    "os.symlink", "os.link", "os.utime", "shutil.rmtree", "shutil.move", "os.replace",
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
work_prefix = os.path.realpath(work) + os.sep
violations = []


def inside_work(path):
    if not isinstance(path, (str, bytes, os.PathLike)):
        return True
    return (os.path.realpath(os.fsdecode(path)) + os.sep).startswith(work_prefix)


def refuse(event, error=PermissionError):
    violations.append(event)
    raise error(f"sandbox: {event} is not allowed here")


def guard(event, args):
    if event.startswith(BLOCKED_PREFIXES):
        refuse(event)
    elif event == "import" and args[0].partition(".")[0] in BLOCKED_IMPORTS:
        refuse(f"import {args[0]}", ImportError)
    elif event == "open" and isinstance(args[2], int) and args[2] & WRITE_FLAGS:
        if not inside_work(args[0]):
            refuse(f"writing {args[0]}")
    elif event in PATH_EVENTS and not all(inside_work(a) for a in args[:2] if a is not None):
        refuse(event)


outcome = {"phase": "", "kind": "", "message": ""}
# A real module, so that dataclasses and pickle find the code's classes; not "__main__", so
# that an example under `if __name__ == "__main__":` does not run (and wait for input).
module = sys.modules["solution"] = types.ModuleType("solution")
namespace = module.__dict__
sys.addaudithook(guard)
try:
    for phase, path in (("solution", sys.argv[4]), ("tests", sys.argv[5])):
        outcome["phase"] = phase
        with open(path) as source:
            code = compile(source.read(), path, "exec")
        exec(code, namespace)
    outcome["phase"] = ""
except BaseException as error:
    # Free what the code allocated first: after a MemoryError, reporting needs memory too.
    namespace.clear()
    traceback.clear_frames(error.__traceback__)
    # Python ignores SIGXFSZ, so the file-size limit shows up as an OSError.
    too_big = isinstance(error, OSError) and error.errno == errno.EFBIG
    kind = "FileSizeLimit" if too_big else type(error).__name__
    outcome.update(kind=kind, message=str(error)[:500])
    try:
        sys.stderr.write("".join(traceback.format_exception(error)[-4:]))
    except OSError:
        pass
outcome["violations"] = violations
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except OSError:
        pass
result.write(json.dumps(outcome))
result.close()
os._exit(0)
"""


def run_python(code: str, tests: str = "", limits: Limits | None = None) -> SandboxResult:
    """Run ``code`` then ``tests`` (plain asserts, in the same namespace) in the sandbox."""
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="ganlab-sandbox-") as folder:
        root = Path(folder)
        work = root / "work"
        work.mkdir()
        for name, text in (("runner.py", _RUNNER), ("solution.py", code), ("tests.py", tests)):
            (root / name).write_text(text, encoding="utf-8")
        result_path = root / "result.json"
        command = [
            sys.executable, "-I", "-B", str(root / "runner.py"), str(result_path), str(work),
            json.dumps(limits.__dict__), str(root / "solution.py"), str(root / "tests.py"),
        ]  # fmt: skip
        environment = {"PATH": os.defpath, "HOME": str(work), "TMPDIR": str(work)}
        environment["LANG"] = "C.UTF-8"
        started = time.perf_counter()
        with (root / "stdout").open("wb") as out, (root / "stderr").open("wb") as err:
            process = subprocess.Popen(
                command,
                cwd=work,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            try:
                process.wait(timeout=limits.wall_s)
                wall_timeout = False
            except subprocess.TimeoutExpired:
                wall_timeout = True
            _kill_group(process)
        seconds = time.perf_counter() - started
        outcome = _read_outcome(result_path)
        return _judge(
            outcome,
            wall_timeout,
            process.returncode,
            seconds,
            _tail(root / "stdout"),
            _tail(root / "stderr"),
        )


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the child's whole session, then reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read_outcome(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _tail(path: Path) -> str:
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - TAIL_CHARS))
        return file.read().decode("utf-8", errors="replace")


def _judge(
    outcome: dict | None,
    wall_timeout: bool,
    returncode: int | None,
    seconds: float,
    stdout: str,
    stderr: str,
) -> SandboxResult:
    def result(status: str, kind: str = "", message: str = "") -> SandboxResult:
        violations = tuple(outcome["violations"]) if outcome else ()
        return SandboxResult(status, kind, message, stdout, stderr, seconds, returncode, violations)

    if wall_timeout:
        return result("timeout", "WallClockLimit", f"still running after {seconds:.1f} s")
    if returncode == -signal.SIGXCPU:
        return result("timeout", "CpuLimit", "stopped at the CPU-time limit")
    if outcome is None:
        return result("crashed", "Crash", f"the interpreter died without a report ({returncode})")
    kind, message = outcome["kind"], outcome["message"]
    if not kind:
        return result("passed")
    if kind == "FileSizeLimit":
        return result("output_limit", kind, message)
    if kind == "MemoryError":
        return result("memory", kind, message or "ran out of memory at the limit")
    if outcome["violations"]:
        return result("blocked", kind, message)
    if kind == "AssertionError" and outcome["phase"] == "tests":
        return result("failed", kind, message)
    return result("error", kind, message)


_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_START = re.compile(r"^(?:def |class |import |from \w|@)", re.MULTILINE)
_CODE_LINE = re.compile(r"^(?:\s|def |class |import |from |@|#|[A-Za-z_]\w* *=[^=]|$)")


def extract_code(reply: str) -> str:
    """The Python in a model's reply.

    Fenced blocks first: python-tagged or untagged ones, joined, keeping only those that
    define something when some do (so a usage example with prints does not run as part of the
    solution); an unclosed fence (the reply was cut off) runs to the end. Without fences, the
    reply from its first ``def`` / ``class`` / ``import`` line, up to the first line of prose.
    """
    blocks = [
        body
        for language, body in _FENCE.findall(reply)
        if language.lower() in ("", "python", "py", "python3")
    ]
    if blocks:
        defining = [block for block in blocks if _CODE_START.search(block)]
        return "\n\n".join(block.strip("\n") for block in defining or blocks) + "\n"
    start = _CODE_START.search(reply)
    if not start:
        return reply.strip() + "\n"
    lines = []
    for line in reply[start.start() :].splitlines():
        if not _CODE_LINE.match(line):
            break
        lines.append(line)
    return "\n".join(lines).strip("\n") + "\n"


_DEFINITIONS = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
)


def keep_definitions(code: str) -> str:
    """Only the top-level imports, definitions and assignments of ``code``, in their original
    text. Models like to append a self-check (``check()``, asserts, prints, a ``__main__``
    block) whose expectations are often wrong; the tests, not the model's own demo, should
    decide. Code that does not parse is returned unchanged, so its syntax error is reported."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return code
    lines = code.splitlines()
    kept = []
    for node in tree.body:
        if isinstance(node, _DEFINITIONS):
            decorators = getattr(node, "decorator_list", [])
            start = min([node.lineno, *(d.lineno for d in decorators)])
            kept.append("\n".join(lines[start - 1 : node.end_lineno]))
    return "\n\n".join(kept) + "\n" if kept else code
