"""spark-submit entry point of the retraining job (weekly in bundle.yaml, or `pixguard model train`).

spark-submit jobs/retrain.py [--target local] [--no-promote]
"""

import sys

from pixguard.model.retrain import retrain_entry

if __name__ == "__main__":
    sys.exit(retrain_entry())
