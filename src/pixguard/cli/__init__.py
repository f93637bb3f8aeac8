"""The `pixguard` command. Each module of this package registers one family of sub-commands."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version

from pixguard.cli import backtest, model, monitor, simulate, stack
from pixguard.cli.common import Command
from pixguard.config import ConfigError
from pixguard.log_setup import configure_logging
from pixguard.stack.processes import ServiceError

COMMAND_FAMILIES = [stack, simulate, backtest, monitor, model]

EXIT_CODES = """exit codes:
  0  done (status: every service ready; reconcile: every record decided or quarantined once)
  1  a failure: a service did not start, the registry refused, a promotion or rollback was not made,
     a smoke check or reconciliation found a difference
  2  a usage or configuration error: an unknown option or part, a bad bundle.yaml or conf/ value
     (the message names the file and the key), a replay or backtest file refused (the row and the
     column), a model version that cannot be served
  3  status: some service is not ready; model train: the training set failed its quality gate or has
     too few matured labels (nothing registered)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixguard",
        description="Real-time Pix fraud detection",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('pixguard')}")
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
    configure_logging()
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"local stack: {exc}", file=sys.stderr)
        return 1
