"""The two streaming applications as tests run them in the test session's SparkSession."""

from __future__ import annotations

from pixguard.config import Bundle, StreamingConfig
from pixguard.stream.job import run_archive_job, run_streaming_job


def decide_and_archive(spark, bundle: Bundle, config: StreamingConfig) -> None:  # noqa: ANN001
    """The streaming job to the end of its input, then the archive job to the end of what it published."""
    run_streaming_job(spark, bundle, config, available_now=True)
    run_archive_job(spark, bundle, config, available_now=True)
