"""Every seam's registry, in one place: adding an implementation is one module and one entry, here or in
an installed package's entry points (the group named beside each). Settings name implementations by these
names and are checked against them (kgflow.config)."""

from __future__ import annotations

from kgflow.registry import Registry

SOURCES = Registry("source", "kgflow.sources", {  # by URL scheme: each class says which schemes it reads
    "local": "kgflow.sources.local:LocalSource",
    "object_store": "kgflow.sources.object_store:ObjectStoreSource",
})
PARSERS = Registry("parser", "kgflow.parsers", {  # by format: each parser says which file extensions it reads
    "pdf": "kgflow.parse.unstructured_parsers:PDF",
    "docx": "kgflow.parse.unstructured_parsers:DOCX",
    "pptx": "kgflow.parse.unstructured_parsers:PPTX",
    "html": "kgflow.parse.unstructured_parsers:HTML",
    "md": "kgflow.parse.unstructured_parsers:MARKDOWN",
    "txt": "kgflow.parse.unstructured_parsers:TEXT",
    "eml": "kgflow.parse.unstructured_parsers:EMAIL",
})
CHUNKERS = Registry("chunker", "kgflow.chunkers", {
    "by_title": "kgflow.chunking.chunker:chunk_elements",
})
GRAPH_STORES = Registry("graph store", "kgflow.graph_stores", {
    "embedded": "kgflow.graph.embedded:EmbeddedGraphStore",
    "neo4j": "kgflow.graph.neo4j_store:Neo4jGraphStore",
})
RETRIEVERS = Registry("retrieval strategy", "kgflow.retrievers", {
    "vector": "kgflow.retrieval.vector:VectorRetriever",
    "graph": "kgflow.retrieval.graph_expansion:GraphExpansionRetriever",
    "ppr": "kgflow.retrieval.ppr:PPRRetriever",
    "hybrid": "kgflow.retrieval.hybrid:HybridRetriever",
})
LLM_BACKENDS = Registry("generation backend", "kgflow.llm_backends", {
    "llamacpp": "kgflow.llm.llamacpp:LlamaCppBackend",
    "tgi": "kgflow.llm.tgi:TgiBackend",
    "vllm": "kgflow.llm.vllm:VllmBackend",
    "triton": "kgflow.llm.triton:TritonBackend",
})
DEPLOYERS = Registry("deployer", "kgflow.deployers", {
    "local": "kgflow.deploy.local:LocalDeployer",
    "docker": "kgflow.deploy.docker:DockerDeployer",
    "vllm": "kgflow.deploy.vllm:VllmDeployer",
    "kubernetes": "kgflow.deploy.kubernetes:KubernetesDeployer",
})
