"""ASGI entry point for uvicorn / the gateway container: `uvicorn serving.app:app`."""

from kgflow.gateway.app import create_app

app = create_app()
