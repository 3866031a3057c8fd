"""spark-submit entry point for kgflow.etl.extract_job. Usage: spark-submit extract.py --run-dir DIR"""

from kgflow.etl import extract_job
from kgflow.etl.submit import submit_main

if __name__ == "__main__":
    submit_main("kgflow-extract", extract_job)
