"""moto's S3 server: a real HTTP S3 API on loopback (PyPI's moto[server]), for sources and backup targets."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from kgflow.netutil import free_port, wait_http

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server(*buckets: str) -> Iterator[str]:
    """Start the server with `buckets` created; yields its endpoint URL. Clients need CREDENTIALS in env."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_http(f"{url}/", 60, alive=lambda: proc.poll() is None, ok_below=500)
        import boto3

        client = boto3.client("s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test",
                              region_name="us-east-1")
        for b in buckets:
            client.create_bucket(Bucket=b)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
