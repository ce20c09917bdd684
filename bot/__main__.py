"""``python -m bot``: the same as the ``ecr-lifeguard`` command."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
