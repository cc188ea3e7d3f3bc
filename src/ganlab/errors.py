"""User-facing errors: each says what was wrong and what to change.

The command-line entry points turn any :class:`GanLabError` into one line on stderr and exit
code 2, so a typo never ends in a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeGuard, TypeVar

EXIT_USAGE = 2

T = TypeVar("T")


class GanLabError(Exception):
    """Base class for errors caused by the user's input, not by a bug."""


class ConfigError(GanLabError):
    """A configuration value is invalid (unknown key, out of range, impossible on this machine)."""


class DataFileError(GanLabError):
    """A data file is missing, truncated or does not match its pinned checksum."""


class CheckpointError(GanLabError):
    """A checkpoint is missing, unreadable, or was not written by this project."""


class OutputError(GanLabError):
    """Output files could not be written (a full disk, no permission); none was half-written."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse's usage errors as one ``error: ...`` line and exit 2, like every other bad input
    (argparse itself prints the usage first, several lines)."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message}; see {self.prog} --help")


def report_and_exit(error: BaseException | str) -> NoReturn:
    """Print ``error`` (an exception or a ready message) as a single line on stderr and exit
    with :data:`EXIT_USAGE`."""
    message = " ".join(str(error).split()) or type(error).__name__
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def is_integer(value: object) -> TypeGuard[int]:
    """An int that is not a bool: YAML's ``true`` would otherwise pass for 1."""
    return isinstance(value, int) and not isinstance(value, bool)


def describe_os_error(error: OSError) -> str:
    """'No space left on device: /path' rather than a traceback."""
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"


def one_line_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Decorate a CLI entry point so that user errors become one line and exit code 2.

    Besides :class:`GanLabError`, file-system errors (a full disk, a missing folder, no
    permission) are the user's environment, not a bug, and are reported the same way.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with errors_as_one_line():
            return func(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def errors_as_one_line() -> Iterator[None]:
    """The same inside a Hydra task function, where Hydra would otherwise print a traceback."""
    try:
        yield
    except GanLabError as error:
        report_and_exit(error)
    except OSError as error:
        report_and_exit(describe_os_error(error))
