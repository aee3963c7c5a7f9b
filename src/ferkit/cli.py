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


@command
def _add_data(sub) -> None:
    p = sub.add_parser("data", help="inspect datasets", description="Inspect datasets.")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    s = data_sub.add_parser(
        "summary", help="counts per split and class, duplicates, leaks, near-blank faces",
        description="Counts per split and class, identical faces and train/test leaks, near-blank faces. "
                    "PATH: FER2013 .csv/.csv.gz, FER2013 images .zip or folder, AffectNet folder.")
    s.add_argument("path", metavar="PATH", help="the dataset")
    s.add_argument("--ferplus", metavar="PATH", help="fer2013new.csv: also count FER+ majority labels")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--no-cache", action="store_true", help="decode the source even if a cached copy exists")
    s.set_defaults(run=_run_data)


def _run_data(args) -> int:
    import json

    from ferkit.data import load_dataset
    from ferkit.data.summary import summarize

    summary = summarize(load_dataset(args.path, use_cache=not args.no_cache), ferplus=args.ferplus)
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.to_text())
    return 0
