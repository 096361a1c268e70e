#!/usr/bin/env python
"""Django's command-line utility. Puts platform/ (a source root, not a package) on sys.path."""

import os
import sys
from pathlib import Path


def main():
    root = Path(__file__).resolve().parent
    sys.path[:0] = [str(root / "platform"), str(root)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
