"""Simulated payments as a backtest file: what a bank would bring, from the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pixguard.domain.schema import TRANSACTION_FIELDS


def write_backtest_file(transactions: pd.DataFrame, reports: pd.DataFrame, path: Path) -> Path:
    """Parquet of the message fields, `is_fraud` (the truth), `reported_at` (the first report of a
    fraud; empty if it was never reported) and `fraud_type` (the scenario)."""
    first = reports.groupby("end_to_end_id")["reported_at"].min()
    out = transactions[list(TRANSACTION_FIELDS)].copy()
    out["is_fraud"] = transactions["is_fraud"].astype(bool).to_numpy()
    out["reported_at"] = transactions["end_to_end_id"].map(first).where(out["is_fraud"])
    out["fraud_type"] = transactions["scenario"].to_numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(path, index=False)
    return path
