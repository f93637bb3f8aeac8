"""spark-submit entry point of the continuous fraud-scoring job.

spark-submit jobs/streaming.py [--target local] [--available-now]
"""

import sys

from pixguard.jobs import run_streaming_job_entry

if __name__ == "__main__":
    sys.exit(run_streaming_job_entry())
