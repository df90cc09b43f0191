"""The stages of each job kind, each a small function or class; the runner strings them."""
