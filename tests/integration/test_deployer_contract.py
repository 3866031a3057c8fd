"""The Deployer contract, for every deployer in kgflow.seams.DEPLOYERS: built from settings as the model_deploy
DAG builds it, it knows which colour is live and rolls out to the other, remembers what a rollout made live,
and its endpoints speak a registered generation backend.

Docker, vLLM's containers and Kubernetes cannot run here: their deployers talk to the fake Docker Engine API
(fake_docker) and the fake Kubernetes API server (fake_kube, with the Helm chart's objects installed), up to
the wire. What each does beyond the contract is specified in its own module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kgflow.config import Settings
from kgflow.deploy.base import Deployer, Endpoint
from kgflow.deploy.rollout import make_deployer
from kgflow.seams import DEPLOYERS, LLM_BACKENDS
from tests.contract import environment, implementations

pytestmark = pytest.mark.slow


@contextmanager
def _host(name: str, tmp_path: Path, monkeypatch, request) -> Iterator[Settings]:
    yield Settings(home=tmp_path, deployer=name)


@contextmanager
def _docker(name: str, tmp_path: Path, monkeypatch, request) -> Iterator[Settings]:
    from tests.integration.fake_docker import fake_docker_engine

    with fake_docker_engine() as (_, _, host):
        monkeypatch.setenv("DOCKER_HOST", host)
        yield Settings(home=tmp_path, deployer=name)


@contextmanager
def _kubernetes(name: str, tmp_path: Path, monkeypatch, request) -> Iterator[Settings]:
    from kgflow.deploy.manifests import Validator
    from tests.integration.test_kubernetes_deployer import NS, Cluster

    llama = request.getfixturevalue("llama_server")
    with Cluster(Validator.load(), llama.url, {}, tmp_path) as cluster:
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(tmp_path / "kubeconfig")))
        yield Settings(home=tmp_path, deployer=name, kubernetes_namespace=NS)


ENVIRONMENTS = {"local": _host, "docker": _docker, "vllm": _docker, "kubernetes": _kubernetes}


@pytest.fixture(params=implementations(DEPLOYERS))
def deployer(request, tmp_path, monkeypatch) -> Iterator[Deployer]:
    with environment(DEPLOYERS, request.param, ENVIRONMENTS)(request.param, tmp_path, monkeypatch, request) as s:
        yield make_deployer(s)


def test_the_deployer_settings_name_is_the_one_built(deployer, request):
    assert isinstance(deployer, DEPLOYERS.resolve(request.node.callspec.params["deployer"]))


def test_a_rollout_goes_to_the_colour_that_is_not_live(deployer):
    live = deployer.live()
    assert deployer.next_slot() in ("blue", "green")
    assert live is None or deployer.next_slot() != live.slot


def test_what_a_rollout_made_live_is_remembered_and_the_next_goes_to_the_other_colour(deployer):
    ep = Endpoint(deployer.next_slot(), "http://127.0.0.1:1", "m0001", "handle-1")
    deployer.record_live(ep)
    assert deployer.live() == ep
    assert deployer.next_slot() == ("blue" if ep.slot == "green" else "green")


def test_its_endpoints_speak_a_registered_generation_backend(deployer):
    assert deployer.backend in LLM_BACKENDS.names()
