"""spark-submit entry point: land Kafka pix.transactions in Delta transactions_raw.

spark-submit jobs/smoke.py [--target local] [--available-now]
"""

import sys

from pixguard.jobs import run_raw_ingest_job

if __name__ == "__main__":
    sys.exit(run_raw_ingest_job())
