"""Backtests: a user's labelled payments decided in batch by the stream's own code, and the report
fraud teams read."""
