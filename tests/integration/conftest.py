"""Fixtures for the integration tests (the runtime fixtures for every test here)."""

from runtime_fixtures import bundle, rt  # noqa: F401  (fixtures for every integration test)
