"""What every `pixguard` sub-command shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Protocol

from pixguard.config import Bundle, load_bundle

Command = Callable[[argparse.Namespace], int]


class AddCommand(Protocol):
    def __call__(
        self, name: str, handler: Command, help_text: str, parent: argparse._SubParsersAction | None = None
    ) -> argparse.ArgumentParser: ...


def bundle_from(args: argparse.Namespace) -> Bundle:
    return load_bundle(target=args.target)
