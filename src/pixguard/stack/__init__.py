"""The local stack (target `local`): a real Kafka broker, an MLflow server and Airflow, run as
background processes whose pids are recorded under the state folder."""
