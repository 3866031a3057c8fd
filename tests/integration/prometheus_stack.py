"""Prometheus, the Pushgateway and a DCGM stand-in on loopback, for the operations tests.

Prometheus and the Pushgateway are the real Debian packages. The DCGM exporter needs an NVIDIA GPU and
its driver, which this machine lacks: `FakeDcgmExporter` serves the exporter's metric names in the
Prometheus text format over real HTTP, so scraping, rules and dashboard queries are tested up to the wire.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.parse
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kgflow.netutil import free_port, wait_http

DCGM_TEXT = """# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-0",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu1"} 42
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-0",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu1"} 20480
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-0",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu1"} 61
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-0",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu1"} 312.5
"""


class _Dcgm(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = DCGM_TEXT.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def fake_dcgm_exporter():
    """A stand-in for NVIDIA's DCGM exporter (no GPU here): its metric names, real HTTP, on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Dcgm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def pushgateway(workdir: Path):
    port = free_port()
    proc = subprocess.Popen([shutil.which("prometheus-pushgateway") or "prometheus-pushgateway",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=(workdir / "pushgateway.log").open("w"))
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_http(f"{url}/-/ready", 30, alive=lambda: proc.poll() is None):
            raise RuntimeError("the Pushgateway did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def prometheus(workdir: Path, targets: dict[str, dict], rules: Path):
    """A real Prometheus scraping `targets` (job -> {"targets": [...], **scrape options}) every second,
    with `rules` loaded."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(rules, workdir / "alerts.yml")
    jobs = [{"job_name": job, "scrape_interval": "1s", **{k: v for k, v in cfg.items() if k != "targets"},
             "static_configs": [{"targets": cfg["targets"]}]} for job, cfg in targets.items()]
    (workdir / "prometheus.yml").write_text(json.dumps({"global": {"scrape_interval": "1s",
                                                                   "evaluation_interval": "1s"},
                                                        "rule_files": ["alerts.yml"], "scrape_configs": jobs}))
    port = free_port()
    proc = subprocess.Popen(["prometheus", f"--config.file={workdir / 'prometheus.yml'}",
                             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=(workdir / "prometheus.log").open("w"))
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_http(f"{url}/-/ready", 60, alive=lambda: proc.poll() is None):
            raise RuntimeError(f"Prometheus did not start: {(workdir / 'prometheus.log').read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def query(url: str, expr: str) -> list[dict]:
    """The instant vector (or scalar, as one sample) Prometheus's HTTP API returns for `expr`."""
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout=10) as r:
        data = json.loads(r.read())["data"]
    return data["result"] if data["resultType"] == "vector" else [{"value": data["result"]}]
