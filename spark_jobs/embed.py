"""spark-submit entry point for kgflow.etl.embed_job. Usage: spark-submit embed.py --run-dir DIR"""

from kgflow.etl import embed_job
from kgflow.etl.submit import submit_main

if __name__ == "__main__":
    submit_main("kgflow-embed", embed_job)
