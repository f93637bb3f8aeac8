"""spark-submit entry point: land the smoke topic (pix.smoke) in its Delta table, smoke_landing.

spark-submit jobs/smoke.py [--target local] [--available-now]
"""

import sys

from pixguard.jobs import run_smoke_ingest_job

if __name__ == "__main__":
    sys.exit(run_smoke_ingest_job())
