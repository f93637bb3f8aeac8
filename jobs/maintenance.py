"""spark-submit entry point of the Delta maintenance job (daily in bundle.yaml, DAG pix_maintenance).

spark-submit jobs/maintenance.py [--target local] [--step compact|vacuum|validate|all] [--run-id ID]
"""

import sys

from pixguard.orchestration.maintenance import maintenance_entry

if __name__ == "__main__":
    sys.exit(maintenance_entry())
