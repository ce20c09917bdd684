"""Reading a verb's words: references, repository names, counts (pure).

Every problem is a :class:`bot.errors.UsageError` that names the word at fault.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from bot.errors import InputError, UsageError
from bot.refs import ImageRef, is_valid_repository_name, is_valid_tag, parse_image_ref
from bot.text import plural

_SLACK_LINK = re.compile(r"<([^|>]*)(?:\|([^>]*))?>")
_GLOB = re.compile(r"[a-z0-9._/\-*?\[\]!]+")


def clean_slack_text(text: str) -> str:
    """Undo Slack's escaping and auto-links: ``<http://x|x>`` → ``x``, ``&lt;`` → ``<``.

    Example:
        >>> clean_slack_text("why-missing <http://123.dkr.ecr.eu-west-1.amazonaws.com/app:v1|123.dkr.ecr.eu-west-1.amazonaws.com/app:v1>")
        'why-missing 123.dkr.ecr.eu-west-1.amazonaws.com/app:v1'
    """
    unlinked = _SLACK_LINK.sub(lambda m: m.group(2) or re.sub(r"^https?://", "", m.group(1)), text)
    return unicodedata.normalize("NFC", html.unescape(unlinked)).replace("\u00a0", " ").strip()


def image(word: str) -> ImageRef:
    """An image reference, or the reason it is not one.

    Example:
        >>> image("app:v1").tag
        'v1'
    """
    try:
        return parse_image_ref(word)
    except InputError as exc:
        raise UsageError(exc.problems[0].message) from None


def count(args: Sequence[str], low: int, high: int, verb: str) -> None:
    """Refuse fewer than ``low`` or more than ``high`` words.

    Example:
        >>> count(["a", "b"], 1, 1, "plan")
        Traceback (most recent call last):
        ...
        bot.errors.UsageError: plan takes 1 argument, got 2
    """
    if not low <= len(args) <= high:
        if low == high:
            expected = plural(low, "argument")
        elif low == 0:
            expected = "at most " + plural(high, "argument")
        else:
            expected = f"{low} to {high} arguments"
        raise UsageError(f"{verb} takes {expected}, got {len(args)}")


def repository(word: str) -> str:
    """A repository name.

    Example:
        >>> repository("Shop")
        Traceback (most recent call last):
        ...
        bot.errors.UsageError: "Shop" is not a repository name (lowercase letters, digits, . _ - /)
    """
    if not is_valid_repository_name(word):
        raise UsageError(f'"{word}" is not a repository name (lowercase letters, digits, . _ - /)')
    return word


def glob(word: str) -> str:
    """A repository-name glob.

    Example:
        >>> glob("shop/*")
        'shop/*'
    """
    if not _GLOB.fullmatch(word):
        raise UsageError(f'"{word}" can match no repository name')
    return word


def tag(word: str) -> str:
    """A tag ECR accepts.

    Example:
        >>> tag("v1.2")
        'v1.2'
    """
    if not is_valid_tag(word):
        raise UsageError(
            f'"{word}" is not a valid tag (letters, digits, _ . -, not starting with . or -, '
            "at most 128 characters)"
        )
    return word
