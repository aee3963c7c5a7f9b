"""The ``ferkit`` command line: parses, calls the Python API, prints.

Each sub-command is a pair ``_add_<name>(subparsers)`` / ``_run_<name>(args) -> int``
registered in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys

from ferkit.errors import FerkitError

COMMANDS: list = []  # filled by @command below, in help order


def command(add):
    COMMANDS.append(add)
    return add


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferkit", description="Facial expression recognition toolkit.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    if args.version:
        from ferkit import __version__

        print(__version__)
        return 0
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("ferkit: interrupted", file=sys.stderr)
        return 130
    except FerkitError as e:  # a problem the user can fix: one line, no traceback
        print(f"ferkit: error: {e}", file=sys.stderr)
        return 1
