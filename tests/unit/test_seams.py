"""Every seam is one registry (kgflow.seams), and adding to it is one module and one entry: a plug-in
package beside kgflow, found through its entry points and chosen by a setting, runs where kgflow's own
implementations run. The plug-in here is a real installed distribution (a dist-info on sys.path, as pip
makes one) whose single module adds one implementation to each seam."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from kgflow import seams
from kgflow.config import Settings, SourceConfig

ROOT = Path(__file__).resolve().parents[2]

REGISTRIES = {"source": seams.SOURCES, "parser": seams.PARSERS, "chunker": seams.CHUNKERS,
              "graph store": seams.GRAPH_STORES, "retriever": seams.RETRIEVERS, "llm backend": seams.LLM_BACKENDS,
              "deployer": seams.DEPLOYERS}
SETTING = {"chunker": "chunker", "graph store": "graph_backend", "retriever": "retrieval_mode",
           "llm backend": "llm_backend", "deployer": "deployer"}  # a source is chosen by its URL's scheme

TOY_MODULE = '''
"""One module, one implementation per seam: what a newcomer writes (here each extends a built-in)."""
from pathlib import Path

from kgflow.chunking.chunker import chunk_elements
from kgflow.parse.base import Parser
from kgflow.deploy.local import LocalDeployer
from kgflow.graph.embedded import EmbeddedGraphStore
from kgflow.llm.openai_compat import OpenAICompatibleBackend
from kgflow.retrieval.vector import VectorRetriever
from kgflow.sources.local import LocalSource


class ToySource(LocalSource):
    schemes = ("toy",)

    def __init__(self, config, policy, **kw):
        super().__init__(config, policy, **kw)
        self.root = Path(config.url.removeprefix("toy://"))


class ToyParser(Parser):
    """reStructuredText read as plain text."""
    format = "toy"
    extensions = ("rst",)

    def partition(self, data, text, languages):
        from unstructured.partition.text import partition_text

        return partition_text(text=text, languages=languages)


TOY_PARSER = ToyParser()


def toy_chunker(*args, **kwargs):
    return chunk_elements(*args, **kwargs)


class ToyGraphStore(EmbeddedGraphStore):
    pass


class ToyRetriever(VectorRetriever):
    name = "toy"


class ToyBackend(OpenAICompatibleBackend):
    name = "toy"
    names_model = False


class ToyDeployer(LocalDeployer):
    pass
'''
ENTRY_POINTS = {"kgflow.sources": "ToySource", "kgflow.parsers": "TOY_PARSER", "kgflow.chunkers": "toy_chunker",
                "kgflow.graph_stores": "ToyGraphStore", "kgflow.retrievers": "ToyRetriever",
                "kgflow.llm_backends": "ToyBackend", "kgflow.deployers": "ToyDeployer"}


def _install(site: Path) -> Path:
    """The package `kgflow-toy` installed into `site`: its module and its dist-info with entry points."""
    site.mkdir()
    (site / "kgflow_toy.py").write_text(TOY_MODULE)
    dist = site / "kgflow_toy-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kgflow-toy\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("".join(f"[{group}]\ntoy = kgflow_toy:{attr}\n\n"
                                                   for group, attr in ENTRY_POINTS.items()))
    return site


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    """The plug-in, installed on this process's path."""
    site = _install(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield importlib.import_module("kgflow_toy")


@pytest.mark.parametrize("seam", REGISTRIES)
def test_every_seam_lists_kgflow_s_own_implementations_and_each_imports(seam):
    registry = REGISTRIES[seam]
    assert registry.names() and all(registry.resolve(name) for name in registry.names())


@pytest.mark.parametrize("seam", SETTING)
def test_a_setting_names_a_registered_implementation_or_is_refused_with_the_choices(seam):
    field = SETTING[seam]
    for name in REGISTRIES[seam].names():
        assert getattr(Settings(**{field: name}), field) == name
    with pytest.raises(ValueError, match=f"unknown {REGISTRIES[seam].concern} 'nonesuch'.*choose one of"):
        Settings(**{field: "nonesuch"})


@pytest.mark.parametrize("seam", REGISTRIES)
def test_an_installed_plugin_adds_an_implementation_to_each_seam(seam, plugin):
    assert "toy" in REGISTRIES[seam].names()
    assert REGISTRIES[seam].resolve("toy").__module__ == "kgflow_toy"


@pytest.mark.parametrize("seam", SETTING)
def test_a_setting_chooses_the_plugin_s_implementation(seam, plugin):
    assert getattr(Settings(**{SETTING[seam]: "toy"}), SETTING[seam]) == "toy"


def test_the_plugin_s_source_reads_its_own_urls(plugin, tmp_path):
    from kgflow.sources import kind_of, open_source

    share = tmp_path / "share" / "finance"
    share.mkdir(parents=True)
    (share / "memo.txt").write_text("Quarterly numbers.")
    s = Settings(home=tmp_path / "home")
    source = open_source(SourceConfig(name="toy-share", url=f"toy://{tmp_path / 'share'}"), s)
    listed = list(source.list())
    assert kind_of("toy://anything") == "toy" and isinstance(source, plugin.ToySource)
    assert [(d.rel, d.department) for d in listed] == [("finance/memo.txt", "finance")]
    assert source.read(listed[0].rel) == b"Quarterly numbers."


def test_the_plugin_s_parser_is_the_one_the_pipeline_calls_for_its_extension(plugin):
    from kgflow.parse.document import parse_document
    from kgflow.parse.sniff import Limits, parser_for

    doc = parse_document(b"Release notes\n\nMaria Lindqvist leads Project Falcon.\n", "ops/notes.rst", "d1",
                         Limits(), max_chars=1200, new_after=900, overlap=0)
    assert parser_for("ops/notes.rst") is plugin.TOY_PARSER
    assert (doc.format, doc.title, doc.quarantine_reason) == ("toy", "Release notes", None)


def test_the_plugin_s_chunker_is_the_one_the_pipeline_calls(plugin):
    from kgflow.chunking import chunker_for

    assert chunker_for("toy") is plugin.toy_chunker


def test_the_plugin_s_graph_store_is_the_one_the_pipeline_opens(plugin, tmp_path):
    from kgflow.graph.base import open_graph_store

    store = open_graph_store(Settings(home=tmp_path, graph_backend="toy"))
    store.ensure_schema()
    assert isinstance(store, plugin.ToyGraphStore)
    assert store.run("MATCH (d:Document) RETURN count(d) AS n") == [{"n": 0}]


def test_the_plugin_s_retriever_is_the_one_the_engine_builds(plugin, tmp_path):
    from kgflow.retrieval import make_retriever

    assert isinstance(make_retriever("toy", Settings(home=tmp_path)), plugin.ToyRetriever)


def test_the_plugin_s_generation_backend_answers_over_the_wire(plugin):
    from kgflow.llm import make_backend
    from kgflow.llm.base import GenParams
    from kgflow.llm.prompts import Prompt
    from tests.integration.fake_llm import fake_llm_server

    with fake_llm_server() as url:
        gen = asyncio.run(make_backend("toy", url).generate(Prompt("base", text="Q: Who?\nA:"), GenParams()))
    assert gen.text == "Maria Lindqvist"


def test_the_plugin_s_deployer_is_the_one_model_deploy_builds(plugin, tmp_path):
    from kgflow.deploy.rollout import make_deployer

    deployer = make_deployer(Settings(home=tmp_path, deployer="toy"))
    assert isinstance(deployer, plugin.ToyDeployer) and deployer.live() is None


CONTRACTS = {"source": "tests/integration/test_sources.py", "parser": "tests/unit/test_parser_contract.py",
             "chunker": "tests/unit/test_chunker_properties.py", "graph store": "tests/integration/test_graph_store.py",
             "retriever": "tests/integration/test_retrieval_quality.py",
             "llm backend": "tests/integration/test_llm_backends.py",
             "deployer": "tests/integration/test_deployer_contract.py"}


@pytest.mark.slow
def test_the_plugin_s_implementations_pass_the_contract_tests_of_every_seam(tmp_path):
    """kgflow's own contract tests, collected with the plug-in installed (PYTHONPATH, as pip would put it on
    the path), run over its implementations: each seam's contract passes for "toy", nothing skipped."""
    site = _install(tmp_path / "site")
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "toy",
                          f"--junitxml={junit}", *CONTRACTS.values()], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-4000:]
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    ran: dict[str, list[str]] = {}
    for case in cases:
        assert "[toy" in case.get("name") or "-toy" in case.get("name"), case.get("name")
        assert case.find("skipped") is None, case.get("name")
        path = case.get("file") or case.get("classname").replace(".", "/") + ".py"
        ran.setdefault(path, []).append(case.get("name"))
    assert {seam: len(ran.get(path, [])) > 0 for seam, path in CONTRACTS.items()} == dict.fromkeys(CONTRACTS, True)
