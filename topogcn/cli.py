"""The ``topogcn`` command line: a thin layer over the library.

Each sub-command parses its arguments here and calls one library function;
configuration lives in typed dataclasses and YAML files
(:mod:`topogcn.engine.config`), not in argument parsing.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _cmd_skeletons(args: argparse.Namespace) -> int:
    from topogcn.skeleton import skeleton_summary

    rows = skeleton_summary()
    print(f"{'name':<20} {'joints':>6} {'bones':>6}  {'centre':<14} aliases")
    for r in rows:
        print(f"{r['name']:<20} {r['num_nodes']:>6} {r['num_bones']:>6}  {r['center']:<14} "
              f"{', '.join(r['aliases'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="topogcn", description="Topology-adaptive micro-gesture recognition (GE-CN).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("skeletons", help="list the registered skeleton topologies")
    p.set_defaults(func=_cmd_skeletons)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"topogcn {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
