"""loadbay: bulk data into and out of a platform, safely and in the background."""

__version__ = "0.1.0"
__all__ = ["__version__"]
