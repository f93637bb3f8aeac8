"""spark-submit entry point of the archive: the decision log and the topics it comes from, to Delta.

spark-submit jobs/archive.py [--target local] [--available-now]
"""

import sys

from pixguard.jobs import run_archive_job_entry

if __name__ == "__main__":
    sys.exit(run_archive_job_entry())
