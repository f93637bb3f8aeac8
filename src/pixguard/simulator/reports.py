"""Fraud reports (MED claims) as messages on the reports topic (schema: pixguard.domain.schema.LABEL_FIELDS)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd


def report_message(report: Any) -> tuple[bytes, bytes]:  # noqa: ANN401 - a namedtuple row of a labels frame
    reported_at = np.datetime_as_string(
        pd.Timestamp(report.reported_at).tz_convert("UTC").tz_localize(None).to_datetime64().astype("datetime64[ms]")
    )
    body = {"end_to_end_id": report.end_to_end_id, "reported_at": f"{reported_at}Z", "report_type": report.report_type}
    return report.end_to_end_id.encode(), json.dumps(body).encode()
