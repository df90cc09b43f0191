"""The HTTP API: app factory, dependencies, schemas and thin routes."""

from loadbay.api.app import create_app

__all__ = ["create_app"]
