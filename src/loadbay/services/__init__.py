"""Use cases: what the API and CLI ask of loadbay, free of HTTP."""
