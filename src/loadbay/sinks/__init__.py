"""Where valid rows go: the :class:`Sink` protocol and its SQL table implementation."""

from loadbay.sinks.base import Sink, SinkProvider

__all__ = ["Sink", "SinkProvider"]
