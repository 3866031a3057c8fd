"""A Spark standalone cluster on this machine (a master and one worker on loopback), started with pyspark's
own `spark-class`: what the cluster test and the Spark bench run against. Production clusters are started
by their operators (compose: spark-master, spark-worker)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kgflow.errors import NotStarted
from kgflow.netutil import free_port, wait_http


def spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


@contextmanager
def standalone_cluster(logs: Path, cores: int = 2, memory: str = "3g", timeout_s: float = 120) -> Iterator[dict]:
    """Yields {"master": spark://..., "ui": http://...}; stops both processes on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    port, ui, worker_ui = free_port(), free_port(), free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(logs / "work")}
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [spark_class(), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
             "--webui-port", str(ui)], env=env, stdout=(logs / "master.log").open("wb"), stderr=subprocess.STDOUT))
        if not wait_http(f"http://127.0.0.1:{ui}/json/", timeout_s, alive=lambda: procs[0].poll() is None):
            raise NotStarted(f"the Spark master did not start: {logs / 'master.log'}")
        procs.append(subprocess.Popen(
            [spark_class(), "org.apache.spark.deploy.worker.Worker", "--cores", str(cores), "--memory", memory,
             "--webui-port", str(worker_ui), f"spark://127.0.0.1:{port}"], env=env,
            stdout=(logs / "worker.log").open("wb"), stderr=subprocess.STDOUT))
        if not wait_http(f"http://127.0.0.1:{ui}/json/", timeout_s, alive=lambda: procs[1].poll() is None,
                         ready=lambda body: bool(json.loads(body).get("aliveworkers"))):
            raise NotStarted(f"the Spark worker did not register: {logs / 'worker.log'}")
        yield {"master": f"spark://127.0.0.1:{port}", "ui": f"http://127.0.0.1:{ui}"}
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(30)
