"""A real Placement for the tests: openstack-placement's own WSGI app on
127.0.0.1 (a free port, served by a wsgiref thread), its SQLite database
made by Placement's own migrations, ``[api] auth_strategy = noauth2`` (the
token ``admin`` is an admin).  Skipped, saying so, without
openstack-placement.

Placement configures its database engine once per process, so one server
serves the whole session; `placement` empties it (deletes every resource
provider) before each test that asks for it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Iterator

import pytest


def _server_module() -> Any:
    """tests/placement/server.py (tests are not a package: --import-mode=importlib)."""
    spec = importlib.util.spec_from_file_location("cpucompat_test_placement_server",
                                                  Path(__file__).with_name("server.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def placement_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("placement.deploy", reason="openstack-placement is not installed (pip install "
                        "'cpucompat[functional]'): no real Placement to test against")
    pytest.importorskip("keystoneauth1", reason="keystoneauth1 is not installed")
    server = _server_module().start_placement(tmp_path_factory.mktemp("placement"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def placement(placement_server: Any) -> Any:
    """The session's Placement, with no resource providers."""
    placement_server.clear()
    return placement_server

