"""Airflow Assets that kgflow publishes: downstream DAGs schedule on them."""

from airflow.sdk import Asset

GRAPH = Asset(name="kgflow_graph", uri="kgflow://graph")
VECTOR_INDEX = Asset(name="kgflow_vector_index", uri="kgflow://vector-index")
MODEL_REGISTRY = Asset(name="kgflow_model_registry", uri="kgflow://model-registry")
