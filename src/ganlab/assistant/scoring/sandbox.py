"""Run model-written Python against tests, in a child process that cannot do much harm.

Two layers keep the code in, and limits bound what it uses. :func:`isolation` says which layers
are in force.

**Bubblewrap** (``bwrap``, Debian's ``bubblewrap`` package), where it can create its namespaces.
The child gets its own network (a loopback alone: nothing outside the run to reach), process
ids (it sees and can signal only its own processes, and all of them die with the run), IPC and
host name, and a new session (no terminal to inject input into). Its file system is a read-only
view of what Python needs (/usr and the /lib links, the interpreter's and the virtual
environment's folders, the loader cache and the time zone), a minimal /dev, its own /proc, the
run's folder read-only, and a size-capped tmpfs as its work folder: the one place it can write,
gone after the run. The rest of the machine (home folders, the project, /tmp) is not there. As
root, the child starts with only the capabilities it needs to switch to a uid that no other
process uses, and switches before any of the code runs; as another user, bubblewrap's user
namespace maps it to that user and further user namespaces are disabled.

**The audit hook** (:mod:`~ganlab.assistant.scoring.sandbox_child`), installed before the code
runs; Python offers no way to remove it. It refuses new processes (``os.system``, every
``os.exec*``, ``fork``, ``forkpty``, ``posix_spawn``, ``subprocess``, ``_posixsubprocess``,
``multiprocessing``), signals to processes (``os.kill``, ``killpg``, ``pidfd_open``),
sockets, ``ctypes``, links, FIFOs and device nodes, subinterpreters, and any write, rename,
removal or SQLite database (ATTACH and VACUUM INTO included) outside the work folder, resolving
``dir_fd=`` arguments and descriptors through /proc. Refusals land in
:attr:`SandboxResult.violations`.

**Limits**: ``setrlimit`` caps address space, CPU seconds, the size of each file and, under
bubblewrap, processes and threads (:attr:`Limits.processes`: a fork bomb stops there); the
parent kills the whole run when the wall-clock limit passes.

Without a usable ``bwrap`` (not installed, or the kernel refuses the namespaces, e.g. with
unprivileged user namespaces disabled) runs fall back to the audit hook alone, and a warning is
logged once. ``GANLAB_SANDBOX_ISOLATION`` or the ``isolation`` argument of :func:`run_python`
chooses explicitly: "auto" (the default), "bubblewrap" (an error where it is not available) or
"audit-hook".

What remains. Under bubblewrap the code can read what is mounted (the system's /usr, the
interpreter, the installed packages) and use CPU, memory and work-folder space up to the limits
(the work folder is RAM). With the audit hook alone it can read every file its user can, and
code written to defeat the hook can: it runs in the same interpreter, so it can rebind the
standard library the hook calls or load a C extension the hook does not know; as root there,
RLIMIT_NPROC does not apply (the kernel exempts root), so the hook's refusal of fork and spawn
is the only process limit. In both modes code written to do so can reach the runner's frames
and forge its own report: the sandbox protects the machine, not the score, from hostile code.
Run code from people you do not trust with bubblewrap in force.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ganlab.errors import ConfigError

log = logging.getLogger(__name__)

TAIL_CHARS = 2000
ISOLATION_ENV = "GANLAB_SANDBOX_ISOLATION"
ISOLATIONS = ("auto", "bubblewrap", "audit-hook")
_CHILD = Path(__file__).with_name("sandbox_child.py")
# The child's uid when the lab runs as root under bubblewrap: one no account uses, drawn per run,
# so that RLIMIT_NPROC counts the run's own processes and nothing else.
_FIRST_UID, _UID_COUNT = 2_000_000_000, 100_000_000
# Mounted read-only under bubblewrap, with the interpreter's folders (symbolic links as links).
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
# One thread per numeric library: the machine is shared and threads count as processes.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Limits:
    """What one run may use: wall-clock and CPU seconds, address space, bytes written to one
    file (stdout and stderr included, so a print loop cannot fill the disk), and under
    bubblewrap the processes and threads alive at once and the work folder's size."""

    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    file_mb: int = 8
    processes: int = 16
    work_mb: int = 64

    def __post_init__(self) -> None:
        if (
            self.wall_s <= 0
            or self.cpu_s < 1
            or self.memory_mb < 64
            or self.file_mb < 1
            or self.processes < 1
            or self.work_mb < 1
        ):
            raise ConfigError(
                f"sandbox limits {self} must have wall_s > 0, cpu_s >= 1, memory_mb >= 64 "
                "(the interpreter itself needs some), file_mb >= 1, processes >= 1 and "
                "work_mb >= 1"
            )


@dataclass(frozen=True)
class SandboxResult:
    """How a run ended.

    ``status`` is one of "passed", "failed" (an assertion in the tests failed), "error" (any
    other exception, a syntax error included), "blocked" (the code tried something the sandbox
    refuses and did not pass), "timeout" (wall-clock or CPU limit), "memory" (MemoryError under
    the address-space limit), "output_limit" (the file-size limit, stdout included, or a full
    work folder) or "crashed" (the interpreter died without reporting, e.g. a segfault).
    ``isolation`` is "bubblewrap" or "audit-hook" (see :func:`isolation`).
    """

    status: str
    error_kind: str = ""
    message: str = ""
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    returncode: int | None = None
    violations: tuple[str, ...] = field(default_factory=tuple)
    isolation: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def timed_out(self) -> bool:
        return self.status == "timeout"

    @property
    def killed_by_memory(self) -> bool:
        return self.status == "memory"


def isolation() -> str:
    """What a :func:`run_python` call gets here by default: "bubblewrap" (both layers) or
    "audit-hook" (the hook alone), following ``GANLAB_SANDBOX_ISOLATION``."""
    return _choose(None)[0]


def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot isolate runs here, or None when it can. The check runs an empty
    program under ``bwrap`` once per process."""
    return _bubblewrap()[1]


def _bubblewrap() -> tuple[str | None, str | None]:
    """The ``bwrap`` to use and what stops it (one of the two is None)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bwrap is not on PATH (Debian: apt-get install bubblewrap)"
    problem = _probe(bwrap)
    return (None, problem) if problem else (bwrap, None)


@functools.cache
def _probe(bwrap: str) -> str | None:
    result = _run("", "", Limits(), bwrap=bwrap, audit_hook=True)
    if result.passed:
        return None
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return f"{bwrap} could not run Python: {lines[-1] if lines else result.status}"


def _choose(requested: str | None) -> tuple[str, str | None]:
    """The isolation to use and the ``bwrap`` that gives it (None: the audit hook alone)."""
    source = "the isolation argument"
    if requested is None:
        requested, source = os.environ.get(ISOLATION_ENV) or "auto", ISOLATION_ENV
    if requested not in ISOLATIONS:
        raise ConfigError(
            f"sandbox isolation {requested!r} (from {source}) must be one of "
            + ", ".join(ISOLATIONS)
        )
    if requested == "audit-hook":
        return "audit-hook", None
    bwrap, problem = _bubblewrap()
    if bwrap:
        return "bubblewrap", bwrap
    if requested == "bubblewrap":
        raise ConfigError(
            f"sandbox isolation 'bubblewrap' (from {source}) is not available: {problem}"
        )
    _warn_once(problem)
    return "audit-hook", None


@functools.cache
def _warn_once(problem: str) -> None:
    log.warning(
        "sandbox: %s; generated code runs under the audit hook alone, without OS-level "
        "isolation (see ganlab.assistant.scoring.sandbox)",
        problem,
    )


def run_python(
    code: str, tests: str = "", limits: Limits | None = None, *, isolation: str | None = None
) -> SandboxResult:
    """Run ``code`` then ``tests`` (plain asserts, in the same namespace) in the sandbox.
    ``isolation`` ("auto", "bubblewrap" or "audit-hook") overrides ``GANLAB_SANDBOX_ISOLATION``."""
    _, bwrap = _choose(isolation)
    return _run(code, tests, limits or Limits(), bwrap=bwrap, audit_hook=True)


def _run(
    code: str, tests: str, limits: Limits, *, bwrap: str | None, audit_hook: bool
) -> SandboxResult:
    """One run: under ``bwrap`` when given, else as a plain child process. ``audit_hook`` is
    off only in tests of bubblewrap on its own."""
    with tempfile.TemporaryDirectory(prefix="ganlab-sandbox-") as folder:
        root = Path(folder)
        work = root / "work"
        work.mkdir()
        shutil.copyfile(_CHILD, root / "runner.py")
        for name, text in (("solution.py", code), ("tests.py", tests)):
            (root / name).write_text(text, encoding="utf-8")
        uid = None
        if bwrap and os.geteuid() == 0:
            uid = _FIRST_UID + secrets.randbelow(_UID_COUNT)
            # after switching, the child still reads its sources' lines for tracebacks: its
            # group may read the folder (mounted read-only), other users may not
            os.chown(root, 0, uid)
            root.chmod(0o750)
        settings = [
            limits.memory_mb,
            limits.cpu_s,
            limits.file_mb,
            # without bubblewrap the count would take in all of the user's processes
            limits.processes if bwrap else 0,
            uid or 0,
            int(audit_hook),
        ]
        environment = {"PATH": os.defpath, "HOME": str(work), "TMPDIR": str(work)}
        environment["LANG"] = "C.UTF-8"
        environment.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
        started = time.perf_counter()
        with (
            (root / "result").open("wb") as result,
            (root / "stdout").open("wb") as out,
            (root / "stderr").open("wb") as err,
        ):
            child = [
                sys.executable, "-I", "-B", str(root / "runner.py"), str(result.fileno()),
                str(work), ",".join(map(str, settings)), str(root / "solution.py"),
                str(root / "tests.py"),
            ]  # fmt: skip
            command = _bubblewrap_command(bwrap, root, work, limits) + child if bwrap else child
            process = subprocess.Popen(
                command,
                cwd=work,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                pass_fds=(result.fileno(),),
            )
            try:
                process.wait(timeout=limits.wall_s)
                wall_timeout = False
            except subprocess.TimeoutExpired:
                wall_timeout = True
            _kill_group(process)
        seconds = time.perf_counter() - started
        return _judge(
            _read_outcome(root / "result"),
            wall_timeout,
            process.returncode,
            seconds,
            _tail(root / "stdout"),
            _tail(root / "stderr"),
            "bubblewrap" if bwrap else "audit-hook",
        )


def _bubblewrap_command(bwrap: str, root: Path, work: Path, limits: Limits) -> list[str]:
    """``bwrap`` and its options, up to the ``--`` before the child's command."""
    command = [
        bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try", "--die-with-parent", "--new-session",
    ]  # fmt: skip
    if os.geteuid() == 0:
        # Root inside a user namespace is still root to RLIMIT_NPROC, so none: the child keeps
        # only what it needs to switch to its own uid, and switches first thing.
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        command += ["--unshare-user", "--disable-userns"]
    mounts: list[str] = []
    for path in _SYSTEM_PATHS:
        if os.path.islink(path):
            mounts += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            mounts += ["--ro-bind", path, path]
    for path in _ETC_FILES:
        mounts += ["--ro-bind-try", path, path]
    for path in _python_folders():
        mounts += ["--ro-bind", path, path]
    # bwrap would create the folders above the mount points as 0700: the child, under its own
    # uid, could not reach what is mounted
    for path in _folders_above([*mounts[2::3], str(root)]):
        command += ["--perms", "0755", "--dir", path]
    command += mounts
    command += [
        # read-only /dev: no files in /dev/shm; /dev/null and the like stay writable
        "--dev", "/dev", "--remount-ro", "/dev",
        "--proc", "/proc",
        "--ro-bind", str(root), str(root),
        "--perms", "1777", "--size", str(limits.work_mb * 1024 * 1024), "--tmpfs", str(work),
        "--remount-ro", "/",
        "--chdir", str(work),
        "--",
    ]  # fmt: skip
    return command


def _python_folders() -> list[str]:
    """The interpreter's and the virtual environment's folders that the system paths do not
    hold, as given and with links resolved, outermost first."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    paths.append(os.path.dirname(sys.executable))
    folders = sorted({os.path.abspath(p) for p in paths} | {os.path.realpath(p) for p in paths})
    kept: list[str] = []
    for folder in folders:
        if not any(_within(folder, outer) for outer in (*_SYSTEM_PATHS, *kept)):
            kept.append(folder)
    return kept


def _folders_above(paths: list[str]) -> list[str]:
    """The folders that hold ``paths``, outermost first, without / and the paths themselves."""
    above = {str(parent) for path in paths for parent in Path(path).parents} - {"/", *paths}
    return sorted(above, key=lambda folder: (folder.count("/"), folder))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the child's whole session, then reap the child. Under bubblewrap the child is
    ``bwrap``: its death takes the sandbox's process namespace, and every process in it, along."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read_outcome(path: Path) -> dict | None:
    try:
        return ast.literal_eval(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, SyntaxError, MemoryError, RecursionError):
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
    isolation: str,
) -> SandboxResult:
    def result(status: str, kind: str = "", message: str = "") -> SandboxResult:
        violations = tuple(outcome["violations"]) if outcome else ()
        return SandboxResult(
            status, kind, message, stdout, stderr, seconds, returncode, violations, isolation
        )

    # bwrap reports a child killed by signal N as exit status 128 + N
    killed_by = -returncode if returncode is not None and returncode < 0 else 0
    if isolation == "bubblewrap" and returncode is not None and returncode > 128:
        killed_by = returncode - 128
    if wall_timeout:
        return result("timeout", "WallClockLimit", f"still running after {seconds:.1f} s")
    if killed_by == signal.SIGXCPU:
        return result("timeout", "CpuLimit", "stopped at the CPU-time limit")
    if outcome is None:
        return result("crashed", "Crash", f"the interpreter died without a report ({returncode})")
    kind, message = outcome["kind"], outcome["message"]
    if not kind:
        return result("passed")
    if kind in ("FileSizeLimit", "WorkFolderFull"):
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
