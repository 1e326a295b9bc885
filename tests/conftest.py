"""Shared test setup: keep litellm off the network and every test away from the user's config."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("ASSAY_USER_CONFIG", os.devnull)


@pytest.fixture(scope="module")
def srv():
    """The demo server on a background thread, shared by a test module."""
    from demo.serve import DemoServer

    server = DemoServer(latency_ms=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clean_srv(srv):
    """The shared server with no faults, no limits and fresh statistics."""
    srv.configure(faults=[], latency_ms=0, rpm_limit=None, api_key=None, seed=0)
    srv.reset_stats()
    return srv
