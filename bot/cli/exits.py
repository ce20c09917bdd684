"""Exit codes shared by every ``ecr-lifeguard`` command (defined with the errors they follow)."""

from bot.errors import Exit

__all__ = ["Exit"]
