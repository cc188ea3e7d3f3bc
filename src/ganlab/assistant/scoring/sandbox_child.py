"""The sandboxed child process: limits, no root, the audit hook, then the model's code.

:mod:`ganlab.assistant.scoring.sandbox` runs a copy of this file as
``python -I -B sandbox_child.py RESULT_FD WORK SETTINGS SOLUTION TESTS``, SETTINGS being
"memory_mb,cpu_s,file_mb,processes,uid,audit_hook" (0: no process limit, no uid switch, no
hook). It imports nothing from ganlab (under bubblewrap the package is not even visible), and as
little as it can (it starts once per run), and reports one dict literal on RESULT_FD: the phase
that raised, the exception's kind and message, and the refused operations.

The audit hook is the second layer of the sandbox (bubblewrap, where present, is the first). It
refuses what careless code might do by accident; code written to defeat it can (for example by
monkeypatching the standard library the hook relies on), which is why it is not the only layer.
"""

import contextlib  # traceback imports it anyway
import errno
import os
import posix
import resource
import stat
import sys
import traceback
import types

try:  # imported here so that its connect() can be wrapped before the code runs
    import sqlite3
except ImportError:  # an interpreter built without SQLite
    HAS_SQLITE = False
else:
    HAS_SQLITE = True

# Events refused outright: new processes, signals to other processes, sockets, native calls,
# hard links and symbolic links (a link inside the work folder could reach a file outside it),
# raising resource limits, and interpreters without this hook.
REFUSED_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",  # every os.exec* function
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",  # posix_spawn and posix_spawnp
        "os.kill",
        "os.killpg",
        "os.startfile",
        "os.link",
        "os.symlink",
        "signal.pthread_kill",
        "resource.setrlimit",
        "cpython.PyInterpreterState_New",
        "sqlite3.enable_load_extension",
        "sqlite3.load_extension",
        # raised by the stand-ins below: CPython 3.11 raises no event for these
        "os.mkfifo",
        "os.mknod",
        "os.pidfd_open",
    }
)
REFUSED_PREFIXES = ("socket.", "subprocess.", "pty.", "ctypes.", "syslog.")
# Modules that reach the operating system past the audit events: process creation without an
# event (_posixsubprocess.fork_exec), foreign-function interfaces, shared memory and named
# semaphores, interpreters without this hook, and C libraries that write files themselves.
REFUSED_MODULES = frozenset(
    {
        "subprocess",
        "_posixsubprocess",
        "multiprocessing",
        "_multiprocessing",
        "_posixshmem",
        "ctypes",
        "_ctypes",
        "_cffi_backend",
        "_xxsubinterpreters",
        "_xxinterpchannels",
        "readline",
        "_dbm",
        "_gdbm",
    }
)
# Events that change the file system: which arguments are paths, each with the index of its
# dir_fd argument (None: the event has none). Argument shapes as CPython 3.11 raises them.
PATH_EVENTS = types.MappingProxyType(
    {
        "os.mkdir": ((0, 2),),
        "os.remove": ((0, 1),),
        "os.rmdir": ((0, 1),),
        "os.rename": ((0, 2), (1, 3)),  # os.replace raises it too
        "os.chmod": ((0, 2),),
        "os.chown": ((0, 3),),
        "os.utime": ((0, 3),),
        "os.truncate": ((0, None),),
        "os.setxattr": ((0, None),),
        "os.removexattr": ((0, None),),
        "os.chflags": ((0, None),),
        "shutil.rmtree": ((0, 1),),
        "shutil.move": ((0, None), (1, None)),
        "shutil.copyfile": ((1, None),),
        "shutil.copymode": ((1, None),),
        "shutil.copystat": ((1, None),),
        "shutil.copytree": ((1, None),),
        "shutil.chown": ((0, None),),
    }
)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
SQLITE_ATTACH, SQLITE_OK, SQLITE_DENY = 24, 0, 1


def main() -> None:
    result_fd, work = int(sys.argv[1]), sys.argv[2]
    memory_mb, cpu_s, file_mb, processes, uid, audit_hook = map(int, sys.argv[3].split(","))
    sources = []
    for phase, path in (("solution", sys.argv[4]), ("tests", sys.argv[5])):
        with open(path, encoding="utf-8") as file:
            sources.append((phase, path, file.read()))
    os.set_inheritable(result_fd, False)  # not for programs the code might start
    result = os.fdopen(result_fd, "w")
    set_limits(memory_mb, cpu_s, file_mb, processes)
    if uid:
        drop_root(uid)
    violations: list[str] = []
    if audit_hook:
        install_audit_hook(work, violations)
    parent = os.getpid()
    outcome = run(sources)
    if os.getpid() != parent:
        os._exit(0)  # a process the code forked: only the runner itself reports
    outcome["violations"] = violations
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # the file-size limit: the report matters more
            stream.flush()
    result.write(repr(outcome))
    result.close()
    os._exit(0)


def set_limits(memory_mb: int, cpu_s: int, file_mb: int, processes: int) -> None:
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if processes:
        # Counts this user's processes and threads; a fork bomb stops here.
        resource.setrlimit(resource.RLIMIT_NPROC, (processes,) * 2)


def drop_root(uid: int) -> None:
    """Become ``uid``, which no other process uses: the kernel does not apply RLIMIT_NPROC to
    root, and root could override file permissions. Failing here ends the run unreported."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit(f"sandbox: could not switch to uid {uid}")


def install_audit_hook(work: str, violations: list[str]) -> None:
    """Refuse, from now on, what the events and the stand-ins below report; record each refusal
    in ``violations``. What the hook uses is bound here, so that the code rebinding this
    module's globals or ``os.path.realpath`` does not change what it checks."""
    refused_events, refused_prefixes, refused_modules = (
        REFUSED_EVENTS,
        REFUSED_PREFIXES,
        REFUSED_MODULES,
    )
    path_events, write_flags = PATH_EVENTS, WRITE_FLAGS
    sqlite_attach, sqlite_ok, sqlite_deny = SQLITE_ATTACH, SQLITE_OK, SQLITE_DENY
    decode_percent = percent_decoded
    realpath, normpath, isabs, join = (
        os.path.realpath,
        os.path.normpath,
        os.path.isabs,
        os.path.join,
    )
    fsdecode, getcwd, readlink, stat_path, is_dir = (
        os.fsdecode,
        os.getcwd,
        os.readlink,
        os.stat,
        stat.S_ISDIR,
    )
    root = realpath(work)
    prefix = root + os.sep

    def refuse(what: str, error: type[Exception] = PermissionError) -> None:
        violations.append(what)
        raise error(f"sandbox: {what} is not allowed here")

    def resolve(path, dir_fd=None) -> str | None:
        """The real path an operation on ``path`` (relative to ``dir_fd``) reaches; None when it
        cannot be told."""
        try:
            if isinstance(path, int):  # an operation on an open descriptor
                target = readlink(f"/proc/self/fd/{path}")
                # pipes, sockets and anonymous files are in no folder
                return realpath(target) if target.startswith("/") else root
            path = fsdecode(path)
            if not isabs(path):
                base = getcwd() if dir_fd in (None, -1) else readlink(f"/proc/self/fd/{dir_fd}")
                path = join(base, path)
            return realpath(path)
        except (OSError, TypeError, ValueError):
            return None

    def inside(path, dir_fd=None) -> bool:
        where = resolve(path, dir_fd)
        return where is not None and (where == root or where.startswith(prefix))

    def climbs(path) -> bool:
        """A relative path that leaves the folder it starts from. The "open" event does not
        carry os.open's dir_fd, so the check above resolves from the working directory; from a
        descriptor of another folder, a climbing path can land elsewhere."""
        try:
            path = fsdecode(path)
        except (TypeError, ValueError):
            return True
        return not isabs(path) and normpath(path).split(os.sep)[0] == ".."

    def outside_folder(path) -> bool:
        """Outside the work folder and possibly a folder (a descriptor for one would let
        dir_fd= calls write there): only existing files outside may be opened."""
        if inside(path):
            return False
        try:
            return is_dir(stat_path(path).st_mode)
        except (OSError, TypeError, ValueError):
            return True

    def sqlite_paths(database) -> list[str]:
        """The files an SQLite name or URI opens; none for in-memory and temporary ones."""
        name = fsdecode(database)
        if name in ("", ":memory:"):
            return []
        paths = [name]
        if name.startswith("file:"):
            path = name[5:].partition("?")[0].partition("#")[0]
            if path.startswith("//"):
                path = "/" + path[2:].partition("/")[2]
            path = decode_percent(path)
            if path not in ("", ":memory:"):
                paths.append(path)
        return paths

    def authorize(action, name, *_):
        # ATTACH and VACUUM INTO open files the audit events never mention. The name is None
        # when it is not a literal (a bound parameter, an expression): refused, unseen.
        if action == sqlite_attach and (name is None or not all(map(inside, sqlite_paths(name)))):
            violations.append(f"sqlite3 attaching {name}")
            return sqlite_deny
        return sqlite_ok

    def guard(event: str, args: tuple) -> None:
        if event in refused_events or event.startswith(refused_prefixes):
            refuse(event)
        elif event == "import":
            if args[0].partition(".")[0] in refused_modules:
                refuse(f"import {args[0]}", ImportError)
        elif event == "open":
            path, mode, flags = args  # mode is None for os.open, a string for open()
            if isinstance(path, int):
                return  # wraps a descriptor that is already open
            writing = (isinstance(flags, int) and flags & write_flags) or (
                isinstance(mode, str) and any(c in mode for c in "wax+")
            )
            if writing and not inside(path):
                refuse(f"writing {path}")
            # os.open, the one caller that can pass dir_fd= (and that open(opener=) calls)
            if mode is None and (climbs(path) or outside_folder(path)):
                refuse(f"os.open of {path}")
        elif event in path_events:
            for index, fd_index in path_events[event]:
                dir_fd = None if fd_index is None else args[fd_index]
                if not inside(args[index], dir_fd):
                    refuse(f"{event} on {args[index]}")
        elif event == "sqlite3.connect":
            paths: list[str | None]
            try:
                paths = list(sqlite_paths(args[0]))
            except (TypeError, ValueError):
                paths = [None]
            if not all(inside(p) for p in paths):
                refuse(f"sqlite3.connect to {args[0]}")
        elif event == "resource.prlimit" and args[2] is not None:
            refuse("resource.prlimit")

    def stand_in(event: str):
        def refused(*args, **kwargs):
            refuse(event)

        return refused

    # No audit event covers these in CPython 3.11: replace them where code would find them.
    # pidfd_open is the one way to the descriptor that signal.pidfd_send_signal needs.
    for name in ("mkfifo", "mknod", "pidfd_open"):
        if name in posix.__dict__:
            posix.__dict__[name] = os.__dict__[name] = stand_in(f"os.{name}")
    if HAS_SQLITE:
        # The authorizer can be set only once the connection exists; connect() is the place.
        connect, connection_type = sqlite3.connect, sqlite3.Connection

        def authorized_connect(*args, **kwargs):
            connection = connect(*args, **kwargs)
            # the base class's method: a factory= subclass could override it
            connection_type.set_authorizer(connection, authorize)
            return connection

        sqlite3.connect = sqlite3.dbapi2.connect = authorized_connect
    for name in REFUSED_MODULES:
        sys.modules.pop(name, None)  # imported again, they raise the import event
    sys.addaudithook(guard)


def percent_decoded(text: str) -> str:
    """``text`` with its %XX escapes decoded, as SQLite reads a URI's path."""
    pieces = text.split("%")
    decoded = bytearray(pieces[0].encode("utf-8", "surrogateescape"))
    for piece in pieces[1:]:
        if len(piece) >= 2 and all(c in "0123456789abcdefABCDEF" for c in piece[:2]):
            decoded.append(int(piece[:2], 16))
            piece = piece[2:]
        else:
            decoded += b"%"
        decoded += piece.encode("utf-8", "surrogateescape")
    return decoded.decode("utf-8", "surrogateescape")


def run(sources: list[tuple[str, str, str]]) -> dict:
    """Run the solution then the tests in one namespace; what raised, if anything."""
    outcome = {"phase": "", "kind": "", "message": ""}
    # A real module, so that dataclasses and pickle find the code's classes; not "__main__", so
    # that an example under `if __name__ == "__main__":` does not run (and wait for input).
    module = sys.modules["solution"] = types.ModuleType("solution")
    namespace = module.__dict__
    try:
        for phase, path, text in sources:
            outcome["phase"] = phase
            exec(compile(text, path, "exec"), namespace)
        outcome["phase"] = ""
    except BaseException as error:
        # Free what the code allocated first: after a MemoryError, reporting needs memory too.
        namespace.clear()
        traceback.clear_frames(error.__traceback__)
        # Python ignores SIGXFSZ, so the file-size limit shows up as an OSError.
        kind = type(error).__name__
        if isinstance(error, OSError) and error.errno == errno.EFBIG:
            kind = "FileSizeLimit"
        elif isinstance(error, OSError) and error.errno == errno.ENOSPC:
            kind = "WorkFolderFull"
        outcome.update(kind=kind, message=str(error)[:500])
        with contextlib.suppress(OSError):
            sys.stderr.write("".join(traceback.format_exception(error)[-4:]))
    return outcome


if __name__ == "__main__":
    main()
