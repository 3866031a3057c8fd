"""A gateway worker as `kgflow serve` runs it (uvicorn's worker processes, configured by environment) answers
with cited chunks without mapping torch: its questions are embedded by ONNX Runtime, and spaCy's thinc finds
no torch to import."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kgflow.tokens import mint_token
from tests.integration.fake_llm import fake_llm_server
from tests.integration.gateway_harness import SECRET, gateway_processes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker(knowledge_base, truth):
    fact = truth["facts"][0]
    with fake_llm_server() as llm, gateway_processes({"KGFLOW_HOME": str(knowledge_base), "KGFLOW_LLM_URL": llm,
                                                      "KGFLOW_LLM_BACKEND": "llamacpp", "KGFLOW_JWT_SECRET": SECRET},
                                                     workers=2) as url:
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'tester', 'admin')}"}
        r = httpx.post(f"{url}/generate", headers=headers, timeout=120,
                       json={"inputs": f"What is the relation between {fact['subject']} and {fact['object']}?",
                             "parameters": {"max_new_tokens": 8}})
        pids = {httpx.get(f"{url}/info", timeout=10).json()["kgflow"]["worker"] for _ in range(20)}
        yield r, fact["path"], [Path(f"/proc/{pid}/maps").read_text() for pid in pids]


def test_a_gateway_worker_cites_the_document_holding_the_fact(worker):
    r, path, _ = worker
    assert r.status_code == 200
    assert any(c["uri"].endswith(path) for c in r.json()["kgflow"]["citations"])


def test_a_gateway_worker_maps_no_torch(worker):
    _, _, maps = worker
    assert maps and not any("libtorch" in m for m in maps)
