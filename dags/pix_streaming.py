"""Airflow DAG pix_streaming: run the hot path (jobs/streaming.py) and keep it running: one instance,
restarted from its checkpoint when it dies or stalls, an ops alert after repeated failures
(pixguard.orchestration.supervisor). Thin by design: the bundle says what to submit and where."""

from pixguard.orchestration.operators import supervised_job_dag

dag = supervised_job_dag("streaming")

if __name__ == "__main__":
    dag.test()
