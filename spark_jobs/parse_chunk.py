"""spark-submit entry point for kgflow.etl.parse_job. Usage: spark-submit parse_chunk.py --run-dir DIR"""

from kgflow.etl import parse_job
from kgflow.etl.submit import submit_main

if __name__ == "__main__":
    submit_main("kgflow-parse_chunk", parse_job)
