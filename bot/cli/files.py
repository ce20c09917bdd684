"""Reading the CLI's input files, with messages that name the file and the problem.

Every failure becomes a :class:`CliInputError` whose lines read ``FILE: path.to.field: problem``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bot.errors import CliInputError, InputError

T = TypeVar("T")

STDIN = "-"


def display_name(path: str) -> str:
    """How messages name an input: the path, or ``<stdin>`` for ``-``."""
    return "<stdin>" if path == STDIN else path


def read_text(path: str, *, max_bytes: int | None = None) -> str:
    """Read a UTF-8 text file (or standard input for ``-``), refusing what cannot be JSON text.

    Refused with a clear message: a missing or unreadable file, a directory, an empty file,
    binary data, and (when ``max_bytes`` is given) a file larger than that.

    Example:
        >>> read_text("/nonexistent/policy.json")
        Traceback (most recent call last):
        ...
        bot.errors.CliInputError: /nonexistent/policy.json: no such file
    """
    name = display_name(path)
    raw = _read_bytes(path, name, max_bytes)
    if not raw.strip():
        raise CliInputError([f"{name}: the file is empty"])
    if b"\x00" in raw:
        raise CliInputError([f"{name}: binary data, not JSON text"])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CliInputError(
            [f"{name}: not UTF-8 text (byte {exc.start} cannot be decoded); is it binary?"]
        ) from None


def _read_bytes(path: str, name: str, max_bytes: int | None) -> bytes:
    limit = -1 if max_bytes is None else max_bytes + 1
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read(limit)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(limit)
    except FileNotFoundError:
        raise CliInputError([f"{name}: no such file"]) from None
    except IsADirectoryError:
        raise CliInputError([f"{name}: is a directory, not a file"]) from None
    except PermissionError:
        raise CliInputError([f"{name}: permission denied"]) from None
    except OSError as exc:
        raise CliInputError([f"{name}: cannot read ({exc.strerror or exc})"]) from None
    if max_bytes is not None and len(data) > max_bytes:
        raise CliInputError([f"{name}: larger than {max_bytes:,} bytes; is this the right file?"])
    return data


def parse_file(path: str, parser: Callable[[str], T], *, max_bytes: int | None = None) -> T:
    """Read a file and parse it, turning every problem into a :class:`CliInputError`.

    Example:
        >>> import json, tempfile
        >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        ...     _ = f.write('{"rules": []}')
        >>> from bot.lifecycle.parse import parse_policy_document
        >>> try:
        ...     parse_file(f.name, parse_policy_document)
        ... except CliInputError as exc:
        ...     print(exc.lines[0].split(": ", 1)[1])
        rules: a policy needs at least one rule
    """
    text = read_text(path, max_bytes=max_bytes)
    try:
        return parser(text)
    except InputError as exc:
        raise CliInputError.from_input_error(display_name(path), exc) from None
