"""The `pixguard` command. Each module of this package registers one family of sub-commands."""

from __future__ import annotations

import argparse
import sys

from pixguard.cli import model, monitor, simulate, stack
from pixguard.cli.common import Command
from pixguard.config import ConfigError
from pixguard.stack.processes import ServiceError

COMMAND_FAMILIES = [stack, simulate, monitor, model]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixguard", description="Real-time Pix fraud detection")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, handler: Command, help_text: str, parent: argparse._SubParsersAction | None = None
    ) -> argparse.ArgumentParser:
        p = (parent or sub).add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--target", default=None, help="bundle target (default: PIXGUARD_TARGET, else the default target)"
        )
        p.set_defaults(handler=handler)
        return p

    for family in COMMAND_FAMILIES:
        family.register(sub, add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"local stack: {exc}", file=sys.stderr)
        return 1
