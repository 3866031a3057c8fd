"""kgflow: documents -> knowledge graph + vector index -> graph-augmented generation."""

from kgflow.logs import quiet_libraries as _quiet_libraries

__version__ = "0.1.0"

# before anything of kgflow's imports faiss or pathspec: their noise is dropped where it is made, in every
# process that imports kgflow (DAG parsing, task runners, Spark workers, the gateway)
_quiet_libraries()
