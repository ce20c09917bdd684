"""Reading the CLI's input files, with messages that name the option, the file and the problem.

Every failure becomes a :class:`CliInputError` whose lines read
``--option FILE: path.to.field: problem`` (``FILE: ...`` when no option is given).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bot.errors import CliInputError, InputError

T = TypeVar("T")

STDIN = "-"
_UTF8_BOM = b"\xef\xbb\xbf"

Hint = Callable[[bytes], str | None]  # a likelier mistake, guessed from the start of the file


def display_name(path: str) -> str:
    """How messages name an input: the path, or ``<stdin>`` for ``-``."""
    return "<stdin>" if path == STDIN else path


def source_name(path: str, option: str | None = None) -> str:
    """How messages name an input given to an option: ``--images images.json``.

    Example:
        >>> source_name("nope.json", "--images"), source_name("-"), source_name("p.json")
        ('--images nope.json', '<stdin>', 'p.json')
    """
    name = display_name(path)
    return f"{option} {name}" if option else name


def read_input(
    path: str, *, option: str | None = None, max_bytes: int | None = None, hint: Hint | None = None
) -> bytes:
    """Read a UTF-8 text file (or standard input for ``-``) as bytes; refuse what is not text.

    Refused with a clear message: a missing or unreadable file, a directory, an empty file,
    binary data, text that is not UTF-8, and (when ``max_bytes`` is given) a larger file. A UTF-8
    byte order mark is dropped. ``hint`` may add a line naming a likelier mistake (a swapped file).

    Example:
        >>> read_input("/nonexistent/images.json", option="--images")
        Traceback (most recent call last):
        ...
        bot.errors.CliInputError: --images /nonexistent/images.json: no such file
    """
    name = source_name(path, option)
    raw = _read_bytes(path, name, max_bytes, hint).removeprefix(_UTF8_BOM)
    if not raw or raw.isspace():
        raise CliInputError([f"{name}: the file is empty"])
    if b"\x00" in raw:
        raise CliInputError([f"{name}: binary data, not JSON text"])
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CliInputError(
                [f"{name}: not UTF-8 text (byte {exc.start} cannot be decoded); is it binary?"]
            ) from None
    return raw


def read_text(path: str, *, option: str | None = None, max_bytes: int | None = None) -> str:
    """Like :func:`read_input`, decoded to text.

    Example:
        >>> read_text("/nonexistent/policy.json")
        Traceback (most recent call last):
        ...
        bot.errors.CliInputError: /nonexistent/policy.json: no such file
    """
    return read_input(path, option=option, max_bytes=max_bytes).decode("utf-8")


def _read_bytes(path: str, name: str, max_bytes: int | None, hint: Hint | None) -> bytes:
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
        lines = [f"{name}: larger than {max_bytes:,} bytes; is this the right file?"]
        raise CliInputError(_with_hint(lines, name, data, hint))
    return data


def _with_hint(lines: list[str], name: str, data: bytes, hint: Hint | None) -> list[str]:
    guess = hint(data) if hint is not None else None
    return [f"{name}: {guess}", *lines] if guess else lines


def parse_file(
    path: str,
    parser: Callable[[str], T],
    *,
    option: str | None = None,
    max_bytes: int | None = None,
    hint: Hint | None = None,
) -> T:
    """Read a text file and parse it, turning every problem into a :class:`CliInputError`.

    ``hint`` runs only when the file cannot be used: it may name a likelier mistake.

    Example:
        >>> import json, tempfile
        >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        ...     _ = f.write('{"rules": []}')
        >>> from bot.lifecycle.parse import parse_policy_document
        >>> try:
        ...     parse_file(f.name, parse_policy_document, option="--policy")
        ... except CliInputError as exc:
        ...     print(exc.lines[0].split(": ", 1)[1])
        rules: a policy needs at least one rule
    """
    raw = read_input(path, option=option, max_bytes=max_bytes, hint=hint)
    return _parsed(raw, lambda: parser(raw.decode("utf-8")), source_name(path, option), hint)


def parse_file_bytes(
    path: str,
    parser: Callable[[bytes], T],
    *,
    option: str | None = None,
    hint: Hint | None = None,
) -> T:
    """:func:`parse_file` for parsers that take the bytes (large files: no decoded copy)."""
    raw = read_input(path, option=option, hint=hint)
    return _parsed(raw, lambda: parser(raw), source_name(path, option), hint)


def _parsed(raw: bytes, parse: Callable[[], T], name: str, hint: Hint | None) -> T:
    try:
        return parse()
    except InputError as exc:
        lines = CliInputError.from_input_error(name, exc).lines
        raise CliInputError(_with_hint(lines, name, raw, hint)) from None
