"""The HTTP API: app factory (``loadbay.api.app.create_app``), dependencies, schemas and
thin routes. Nothing is imported here, so that services may use the schemas."""
