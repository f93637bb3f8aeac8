"""Airflow DAG pix_archive: run the archive (jobs/archive.py: the decision log and the topics it comes
from, to Delta) and keep it running, as pix_streaming does the hot path. Thin by design: the bundle
says what to submit, where, and at which OS priority."""

from pixguard.orchestration.operators import supervised_job_dag

dag = supervised_job_dag("archive")

if __name__ == "__main__":
    dag.test()
