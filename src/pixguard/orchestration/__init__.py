"""The Airflow side: DAG wiring, the operators, the streaming supervisor, Delta maintenance."""
