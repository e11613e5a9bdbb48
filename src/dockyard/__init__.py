"""dockyard: a container engine in Python (see docs/architecture.md)."""

__version__ = "0.1.0"
