"""Small text helpers every message uses: counts, short digests, safe echoed text (pure)."""

from __future__ import annotations

import re

# Unicode bidirectional controls: they can make echoed text read differently from what it is.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """A count with its noun in the right number.

    Example:
        >>> plural(1, "repository", "repositories"), plural(3, "in-use image")
        ('1 repository', '3 in-use images')
    """
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def short_digest(digest: str) -> str:
    """The first 12 hex digits, as people quote a digest.

    Example:
        >>> short_digest("sha256:ec1477a7420a97a789dd4b778a0a1141a6c6ba9314fce70599c134964121960c")
        'ec1477a7420a'
    """
    return digest.removeprefix("sha256:")[:12]


def without_bidi(text: str) -> str:
    """Text with Unicode bidi controls (U+202A–U+202E, U+2066–U+2069) removed.

    Example:
        >>> without_bidi("reason \u202eevil\u202c")
        'reason evil'
    """
    return _BIDI.sub("", text)
