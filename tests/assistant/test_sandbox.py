"""The code sandbox: right and wrong code, the limits, every escape route under each layer, the
choice of isolation, code extraction."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from ganlab.assistant.scoring import sandbox
from ganlab.assistant.scoring.sandbox import (
    ISOLATION_ENV,
    Limits,
    SandboxResult,
    bubblewrap_problem,
    extract_code,
    isolation,
    keep_definitions,
    run_python,
)
from ganlab.errors import ConfigError

ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"

# "bubblewrap": both layers, as runs get them where bwrap works. "audit-hook": the hook alone,
# as where bwrap is missing. "bubblewrap-only": the hook off, so that the OS layer is shown to
# hold by itself.
MODES = ("bubblewrap", "audit-hook", "bubblewrap-only")
HOOK_MODES = ("bubblewrap", "audit-hook")


@pytest.fixture(autouse=True)
def _default_isolation(monkeypatch):
    monkeypatch.delenv(ISOLATION_ENV, raising=False)


def needs_bubblewrap() -> str:
    """The bwrap to run; skips without one, except where CI=true (CI installs it)."""
    problem = bubblewrap_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and bubblewrap is not usable: {problem}")
        pytest.skip(f"bubblewrap is not usable here: {problem}")
    return shutil.which("bwrap")


def run_in(mode: str, code: str, tests: str = "", limits: Limits | None = None) -> SandboxResult:
    if mode == "audit-hook":
        result = run_python(code, tests, limits, isolation="audit-hook")
        assert result.isolation == "audit-hook"
        return result
    bwrap = needs_bubblewrap()
    if mode == "bubblewrap":
        result = run_python(code, tests, limits, isolation="bubblewrap")
    else:
        result = sandbox._run(code, tests, limits or Limits(), bwrap=bwrap, audit_hook=False)
    assert result.isolation == "bubblewrap"
    return result


def sandbox_processes(folder: Path, wait_s: float = 3.0) -> list[str]:
    """Command lines of processes started from a sandbox folder under ``folder`` that are still
    there after ``wait_s`` (a killed process takes a moment to go)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(folder) in line and "ganlab-sandbox-" in line:
                found.append(line)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def sandbox_folder(tmp_path, monkeypatch) -> Path:
    """Sandbox runs make their folders here, so their processes can be found by command line."""
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_correct_code_passes(mode):
    result = run_in(mode, ADD, ADD_TESTS)
    assert result.passed, result.stderr
    assert result.status == "passed" and result.error_kind == "" and result.violations == ()
    assert 0 < result.seconds < 10


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_wrong_code_fails_and_broken_code_errors(mode):
    wrong = run_in(mode, ADD.replace("a + b", "a - b"), ADD_TESTS)
    assert not wrong.passed and wrong.status == "failed" and wrong.error_kind == "AssertionError"
    assert "assert add(2, 3) == 5" in wrong.stderr
    broken = run_in(mode, "def add(a, b)\n    return a + b\n", ADD_TESTS)
    assert broken.status == "error" and broken.error_kind == "SyntaxError"
    quitting = run_in(mode, "import sys\nsys.exit(0)\n", "assert False\n")
    assert quitting.status == "error" and quitting.error_kind == "SystemExit"


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_infinite_loop_is_killed_at_the_wall_clock_limit_with_all_its_processes(
    mode, sandbox_folder
):
    result = run_in(mode, "while True:\n    pass\n", limits=Limits(wall_s=1.0, cpu_s=60))
    assert result.timed_out and result.error_kind == "WallClockLimit"
    assert 0.9 <= result.seconds < 5
    assert sandbox_processes(sandbox_folder) == []


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_cpu_time_limit_stops_a_busy_loop(mode):
    result = run_in(mode, "while True:\n    pass\n", limits=Limits(wall_s=30, cpu_s=1))
    assert result.timed_out and result.error_kind == "CpuLimit"
    assert result.seconds < 15


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_memory_hog_is_stopped(mode):
    hog = "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))\n"
    result = run_in(mode, hog, limits=Limits(memory_mb=128))
    assert result.killed_by_memory and result.error_kind == "MemoryError"
    one_block = run_in(mode, "x = bytearray(4 * 1024**3)\n", limits=Limits(memory_mb=128))
    assert one_block.killed_by_memory


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_output_flood_hits_the_file_size_limit(mode):
    result = run_in(mode, "while True:\n    print('x' * 1000)\n", limits=Limits(file_mb=1))
    assert result.status == "output_limit"
    assert len(result.stdout) <= 2000


def test_the_work_folder_is_size_capped_under_bubblewrap():
    # many files below the per-file limit: only the folder's cap stops them
    code = "for i in range(100):\n    open(f'f{i}', 'wb').write(bytes(512 * 1024))\n"
    result = run_in("bubblewrap", code, limits=Limits(file_mb=1, work_mb=4))
    assert result.status == "output_limit" and result.error_kind == "WorkFolderFull"


# Each way out that was found or that the hook refuses. {target} (a path under pytest's tmp_path,
# outside the run's work folder) must not appear, {keep} (a file there) must not go, and the
# process {pid} must live. `refused` is what the hook records first.
class Route(NamedTuple):
    id: str
    code: str
    refused: str


# A descriptor of the work folder, a path that climbs from the work folder to /, then down to
# {path}, and a working directory from which the same relative path leads to a copy of
# {path}'s folders inside the work folder: resolving from the working directory says "inside".
VIA_WORK_FD = (
    "import os\n"
    "fd = os.open('.', os.O_RDONLY)\n"
    "depth = os.getcwd().count('/')\n"
    "escape = '../' * depth + {path}.lstrip('/')\n"
    "os.makedirs(os.path.dirname({path}).lstrip('/'))\n"
    "os.makedirs('d/' * depth)\n"
    "os.chdir('d/' * depth)\n"
)
TOUCH = "'/usr/bin/touch'"

ROUTES = [
    # files
    Route("open", "open({target}, 'w').write('x')\n", "writing"),
    Route("os.open", "import os\nos.open({target}, os.O_CREAT | os.O_WRONLY)\n", "writing"),
    Route(
        "os.open dir_fd outside",
        "import os\nfd = os.open({folder}, os.O_RDONLY)\n"
        "os.open({name}, os.O_CREAT | os.O_WRONLY, dir_fd=fd)\n",
        "os.open of",
    ),
    Route(
        "os.open dir_fd climbing",
        VIA_WORK_FD.format(path="{target}")
        + "os.open(escape, os.O_CREAT | os.O_WRONLY, dir_fd=fd)\n",
        "os.open of",
    ),
    Route("os.mkfifo", "import os\nos.mkfifo({target})\n", "os.mkfifo"),
    Route("os.mknod", "import os, stat\nos.mknod({target}, stat.S_IFREG | 0o600)\n", "os.mknod"),
    Route(
        "os.rename dst_dir_fd",
        VIA_WORK_FD.format(path="{target}")
        + "open('f', 'w').close()\nos.rename('f', escape, dst_dir_fd=fd)\n",
        "os.rename",
    ),
    Route(
        "os.replace dst_dir_fd",
        VIA_WORK_FD.format(path="{target}")
        + "open('f', 'w').close()\nos.replace('f', escape, dst_dir_fd=fd)\n",
        "os.rename",
    ),
    Route(
        "os.mkdir dir_fd",
        VIA_WORK_FD.format(path="{target}") + "os.mkdir(escape, dir_fd=fd)\n",
        "os.mkdir",
    ),
    Route(
        "os.rename", "import os\nopen('f', 'w').close()\nos.rename('f', {target})\n", "os.rename"
    ),
    Route("os.link", "import os\nopen('f', 'w').close()\nos.link('f', {target})\n", "os.link"),
    Route("os.symlink", "import os\nos.symlink('/etc/hostname', {target})\n", "os.symlink"),
    Route(
        "shutil.copyfile",
        "import shutil\nopen('f', 'w').close()\nshutil.copyfile('f', {target})\n",
        "shutil.copyfile",
    ),
    Route(
        "sqlite3.connect",
        "import sqlite3\nsqlite3.connect({target}).execute('create table t(x)')\n",
        "sqlite3.connect",
    ),
    Route(
        "sqlite3 uri",
        "import sqlite3\n"
        "db = sqlite3.connect('file:' + {target} + '?mode=rwc', uri=True)\n"
        "db.execute('create table t(x)')\n",
        "sqlite3.connect",
    ),
    Route(
        "sqlite3 attach",
        "import sqlite3\ndb = sqlite3.connect(':memory:')\n"
        "db.execute('attach database ? as other', ({target},))\n"
        "db.execute('create table other.t(x)')\n",
        "sqlite3 attaching",
    ),
    Route(
        "sqlite3 vacuum into",
        "import sqlite3\ndb = sqlite3.connect('db')\ndb.execute('create table t(x)')\n"
        "db.commit()\ndb.execute('vacuum into ?', ({target},))\n",
        "sqlite3 attaching",
    ),
    Route(
        "ssl keylog",
        "import ssl\nssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).keylog_filename = {target}\n",
        "writing",
    ),
    Route(
        "readline history",
        "import readline\nreadline.write_history_file({target})\n",
        "import readline",
    ),
    Route(
        "subinterpreter",
        "import _xxsubinterpreters as interpreters\n"
        "interpreters.run_string(interpreters.create(), 'open(%r, \"w\")' % {target})\n",
        "import _xxsubinterpreters",
    ),
    Route(
        "ctypes",
        "import ctypes\nctypes.CDLL(None).system(b'touch ' + {target}.encode())\n",
        "import ctypes",
    ),
    # processes
    Route("os.system", "import os\nos.system('touch ' + {target})\n", "os.system"),
    Route("os.execv", f"import os\nos.execv({TOUCH}, ['touch', {{target}}])\n", "os.exec"),
    Route(
        "os.execve", f"import os\nos.execve({TOUCH}, ['touch', {{target}}], {{{{}}}})\n", "os.exec"
    ),
    Route("os.execl", f"import os\nos.execl({TOUCH}, 'touch', {{target}})\n", "os.exec"),
    Route(
        "os.execle", f"import os\nos.execle({TOUCH}, 'touch', {{target}}, {{{{}}}})\n", "os.exec"
    ),
    Route("os.execlp", "import os\nos.execlp('touch', 'touch', {target})\n", "os.exec"),
    Route(
        "os.execlpe",
        "import os\nos.execlpe('touch', 'touch', {target}, {{'PATH': '/usr/bin'}})\n",
        "os.exec",
    ),
    Route("os.execvp", "import os\nos.execvp('touch', ['touch', {target}])\n", "os.exec"),
    Route(
        "os.execvpe",
        "import os\nos.execvpe('touch', ['touch', {target}], {{'PATH': '/usr/bin'}})\n",
        "os.exec",
    ),
    Route(
        "os.posix_spawn",
        f"import os\nos.waitpid(os.posix_spawn({TOUCH}, ['touch', {{target}}], {{{{}}}}), 0)\n",
        "os.posix_spawn",
    ),
    Route(
        "os.posix_spawnp",
        "import os\nos.waitpid(os.posix_spawnp('touch', ['touch', {target}], {{}}), 0)\n",
        "os.posix_spawn",
    ),
    Route(
        "os.fork",
        f"import os\nif os.fork() == 0:\n    os.execv({TOUCH}, ['touch', {{target}}])\nos.wait()\n",
        "os.fork",
    ),
    Route(
        "os.forkpty",
        f"import os\npid, fd = os.forkpty()\nif pid == 0:\n"
        f"    os.execv({TOUCH}, ['touch', {{target}}])\nos.waitpid(pid, 0)\n",
        "os.forkpty",
    ),
    Route("pty.spawn", "import pty\npty.spawn(['touch', {target}])\n", "pty.spawn"),
    Route(
        "subprocess",
        "import subprocess\nsubprocess.run(['touch', {target}])\n",
        "import subprocess",
    ),
    Route(
        "_posixsubprocess",
        # fork_exec's arguments as CPython 3.11's subprocess passes them
        "import _posixsubprocess, os\nread, write = os.pipe()\n"
        f"pid = _posixsubprocess.fork_exec([b'touch', {{target}}.encode()], [{TOUCH}.encode()],"
        " True, (write,), None, None, -1, -1, -1, -1, -1, -1, read, write, False, False, -1,"
        " None, None, None, -1, None, False)\nos.waitpid(pid, 0)\n",
        "import _posixsubprocess",
    ),
    Route(
        "multiprocessing",
        "import multiprocessing\n"
        "child = multiprocessing.get_context('fork').Process(target=open, args=({target}, 'w'))\n"
        "child.start()\nchild.join()\n",
        "import multiprocessing",
    ),
    # signals
    Route("os.kill", "import os, signal\nos.kill({pid}, signal.SIGKILL)\n", "os.kill"),
    Route("os.killpg", "import os, signal\nos.killpg({pid}, signal.SIGKILL)\n", "os.killpg"),
    Route(
        "pidfd_send_signal",
        "import os, signal\nsignal.pidfd_send_signal(os.pidfd_open({pid}), signal.SIGKILL)\n",
        "os.pidfd_open",
    ),
    # removals
    Route("os.remove", "import os\nos.remove({keep})\n", "os.remove"),
    Route(
        "os.remove dir_fd",
        VIA_WORK_FD.format(path="{keep}") + "os.remove(escape, dir_fd=fd)\n",
        "os.remove",
    ),
    Route("shutil.rmtree", "import shutil\nshutil.rmtree({keep_folder})\n", "shutil.rmtree"),
]


@pytest.fixture
def victim():
    """A process outside the sandbox, in its own process group."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("route", ROUTES, ids=[route.id for route in ROUTES])
def test_escape_route_is_closed(route, mode, tmp_path, victim):
    target = tmp_path / "escaped"
    keep = tmp_path / "kept" / "file"
    keep.parent.mkdir()
    keep.write_text("x")
    code = route.code.format(
        target=repr(str(target)),
        folder=repr(str(tmp_path)),
        name=repr(target.name),
        keep=repr(str(keep)),
        keep_folder=repr(str(keep.parent)),
        pid=victim.pid,
    )
    result = run_in(mode, code)
    assert not os.path.lexists(target), (result.status, result.violations, result.stderr)
    assert keep.exists() and victim.poll() is None, (result.status, result.violations)
    if mode in HOOK_MODES:
        assert result.status == "blocked", (result.status, result.stderr)
        assert result.violations[0].startswith(route.refused), result.violations


@pytest.mark.parametrize("mode", MODES)
def test_what_stays_inside_the_work_folder_is_allowed(mode):
    code = (
        "import os, pathlib, shutil, sqlite3, tempfile, threading\n"
        "pathlib.Path('notes.txt').write_text('x')\n"
        "assert open('notes.txt').read() == 'x'\n"
        "with tempfile.TemporaryDirectory() as folder:\n"  # removed with dir_fd= calls
        "    open(os.path.join(folder, 'a'), 'w').close()\n"
        "fd = os.open('.', os.O_RDONLY)\n"
        "os.mkdir('sub', dir_fd=fd)\n"
        "os.close(os.open('sub/b', os.O_CREAT | os.O_WRONLY, dir_fd=fd))\n"
        "os.replace('sub/b', 'c', src_dir_fd=fd, dst_dir_fd=fd)\n"
        "os.chmod('c', 0o600)\n"
        "os.remove('c', dir_fd=fd)\n"
        "shutil.copyfile('notes.txt', 'copy.txt')\n"
        "db = sqlite3.connect('db.sqlite')\n"
        "db.execute(\"attach database 'other.sqlite' as other\")\n"
        "db.execute('create table other.t(x)')\n"
        "db.commit()\n"
        "sqlite3.connect(':memory:').execute('select 1')\n"
        "threads = [threading.Thread(target=sum, args=([1],)) for _ in range(4)]\n"
        "for thread in threads:\n    thread.start()\nfor thread in threads:\n    thread.join()\n"
        "assert 'def ' in open(os.__file__).read()\n"  # reading is allowed
    )
    expected = ["copy.txt", "db.sqlite", "notes.txt", "other.sqlite", "sub"]
    tests = f"assert sorted(os.listdir('.')) == {expected!r}\n"
    result = run_in(mode, code, tests)
    assert result.passed and result.violations == (), (result.status, result.stderr)


@pytest.mark.parametrize("mode", MODES)
def test_a_fork_bomb_ends_within_the_wall_limit_and_leaves_no_process(mode, sandbox_folder):
    started = time.perf_counter()
    result = run_in(
        mode, "import os\nwhile True:\n    os.fork()\n", limits=Limits(wall_s=3, cpu_s=2)
    )
    assert time.perf_counter() - started < 6
    assert not result.passed
    assert sandbox_processes(sandbox_folder) == []
    if mode in HOOK_MODES:
        assert result.status == "blocked" and result.violations[0] == "os.fork"


def test_bubblewrap_caps_the_number_of_processes(sandbox_folder):
    code = (
        "import os, time\nmade = 0\ntry:\n    while made < 100:\n"
        "        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\n"
        "        made += 1\nexcept BlockingIOError:\n    pass\n"
    )
    limit = Limits().processes
    result = run_in("bubblewrap-only", code, f"assert 0 < made < {limit}, made\n")
    assert result.passed, result.stderr
    assert sandbox_processes(sandbox_folder) == []


def test_only_the_process_that_ran_the_tests_reports():
    # possible only with the hook off; a forked child's exception must not become the result
    code = "import os\nif os.fork() == 0:\n    raise ValueError('the child')\nos.wait()\n"
    result = run_in("bubblewrap-only", code, "assert True\n")
    assert result.passed, (result.status, result.stderr)


def test_bubblewrap_shows_a_read_only_minimum_of_the_machine():
    code = (
        "import os\n"
        f"assert not os.path.exists({str(Path(__file__))!r})\n"  # the project is not there
        "assert os.getuid() != 0 and os.geteuid() != 0\n"
        "for folder in ('/', '/tmp', '/usr', '/dev/shm', os.path.dirname(os.getcwd())):\n"
        "    try:\n"
        "        open(os.path.join(folder, 'x'), 'w')\n"
        "    except OSError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError(folder + ' is writable')\n"
        "open('/dev/null', 'w').write('x')\n"
        "open('here', 'w').write('x')\n"
    )
    result = run_in("bubblewrap-only", code)
    assert result.passed, result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_socket_connect_to_localhost_is_refused(mode):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = f"import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {port}))\n"
        result = run_in(mode, code)
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            server.accept()  # nobody got through
    assert not result.passed
    if mode in HOOK_MODES:
        assert result.status == "blocked" and result.error_kind == "PermissionError"
        assert result.violations[0].startswith("socket.")


def test_bubblewrap_leaves_only_a_loopback_interface():
    result = run_in(
        "bubblewrap-only", "import socket\nassert socket.if_nameindex() == [(1, 'lo')]\n"
    )
    assert result.passed, result.stderr


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_dns_lookup_is_refused(mode):
    result = run_in(mode, "import socket\nsocket.getaddrinfo('localhost', 80)\n")
    assert result.status == "blocked"
    assert result.violations == ("socket.getaddrinfo",)


def test_a_refused_call_that_the_code_catches_is_recorded_but_may_pass():
    code = "import os\ntry:\n    os.system('true')\nexcept OSError:\n    pass\n" + ADD
    result = run_python(code, ADD_TESTS)
    assert result.passed and result.violations == ("os.system",)


def test_the_child_sees_none_of_the_parents_environment(monkeypatch):
    monkeypatch.setenv("GANLAB_SANDBOX_SECRET", "hunter2")
    result = run_python("import os\nassert 'GANLAB_SANDBOX_SECRET' not in os.environ\n")
    assert result.passed, result.stderr


def test_isolation_is_bubblewrap_where_it_works():
    needs_bubblewrap()
    assert isolation() == "bubblewrap"
    assert run_python(ADD, ADD_TESTS).isolation == "bubblewrap"


def test_without_bwrap_runs_fall_back_to_the_audit_hook_and_say_so_once(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    sandbox._warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger=sandbox.__name__):
        assert isolation() == "audit-hook"
        first, second = run_python(ADD, ADD_TESTS), run_python(ADD, ADD_TESTS)
    assert first.passed and first.isolation == second.isolation == "audit-hook"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "bwrap is not on PATH" in warnings[0]
    assert "audit hook alone" in warnings[0]
    with pytest.raises(ConfigError, match=r"'bubblewrap'.*not available.*bwrap is not on PATH"):
        run_python(ADD, ADD_TESTS, isolation="bubblewrap")


def test_a_bwrap_that_cannot_create_namespaces_is_not_used(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "No permissions to create new namespace" in bubblewrap_problem()
    assert isolation() == "audit-hook"
    assert run_python(ADD, ADD_TESTS).isolation == "audit-hook"


def test_the_isolation_setting(monkeypatch):
    monkeypatch.setenv(ISOLATION_ENV, "audit-hook")
    assert isolation() == "audit-hook"
    assert run_python(ADD, ADD_TESTS).isolation == "audit-hook"
    monkeypatch.setenv(ISOLATION_ENV, "docker")
    with pytest.raises(ConfigError, match=f"'docker' \\(from {ISOLATION_ENV}\\) must be one of"):
        isolation()
    with pytest.raises(ConfigError, match="'none' \\(from the isolation argument\\)"):
        run_python(ADD, ADD_TESTS, isolation="none")


def test_limits_are_validated():
    with pytest.raises(ConfigError, match="memory_mb"):
        Limits(memory_mb=1)
    with pytest.raises(ConfigError):
        Limits(wall_s=0)
    with pytest.raises(ConfigError, match="processes >= 1"):
        Limits(processes=0)


def test_extract_code_from_fenced_replies():
    reply = (
        "Here you go:\n```python\ndef f(x):\n    return x + 1\n```\n"
        "Example:\n```python\nprint(f(2))\n```\nHope it helps."
    )
    assert extract_code(reply) == "def f(x):\n    return x + 1\n"
    assert extract_code("```\nimport math\n```") == "import math\n"
    # cut off by the token limit: the fence never closes
    assert extract_code("```py\ndef g():\n    return 2") == "def g():\n    return 2\n"
    # a shell block is not Python
    assert "ls" not in extract_code("```bash\nls\n```\n```python\ndef h():\n    pass\n```")


def test_extract_code_from_unfenced_replies():
    reply = "Sure! The function is below.\nimport math\n\ndef f(x):\n    return math.sqrt(x)\n"
    reply += "print(f(4))\nThis returns the square root."
    assert extract_code(reply) == "import math\n\ndef f(x):\n    return math.sqrt(x)\n"
    assert extract_code("I do not know.") == "I do not know.\n"


def test_keep_definitions_drops_the_models_own_demo():
    code = (
        "import math\n\n@functools.cache\ndef f(x):\n    return math.sqrt(x)\n\nLIMIT = 3\n"
        "print(f(4))\nassert f(9) == 4\nif __name__ == '__main__':\n    f(1)\n"
    )
    kept = keep_definitions(code)
    assert (
        kept == "import math\n\n@functools.cache\ndef f(x):\n    return math.sqrt(x)\n\nLIMIT = 3\n"
    )
    # unparseable code is left alone, so that its syntax error is what gets reported
    assert keep_definitions("def f(:\n") == "def f(:\n"
