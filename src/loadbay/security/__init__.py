"""Keys, link signatures, encryption of storage references and bearer tokens."""
