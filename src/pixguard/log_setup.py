"""The one logging set-up of every pixguard process (CLI, jobs): pixguard's own messages at INFO in a
plain format, everyone else's at WARNING, and the chattiest libraries held lower still."""

from __future__ import annotations

import logging

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# py4j logs every gateway hiccup of a stopping Spark session as an ERROR with a stack trace.
QUIET = {"py4j": logging.CRITICAL, "pyspark": logging.WARNING, "great_expectations": logging.WARNING}


def configure_logging(level: int = logging.INFO) -> None:
    """Idempotent: a second call (a job started from the CLI) adds no second handler."""
    root = logging.getLogger()
    if not any(getattr(handler, "_pixguard", False) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
        handler._pixguard = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("pixguard").setLevel(level)
    for name, quiet_level in QUIET.items():
        logging.getLogger(name).setLevel(quiet_level)
