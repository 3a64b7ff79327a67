"""A real Placement on 127.0.0.1, for the tests (tests/placement/conftest.py)
and the benchmark (benchmarks/placement.py): openstack-placement's WSGI
app from `placement.deploy.loadapp`, served by a wsgiref thread on a free
port, with a SQLite database made by Placement's own migrations
(``sync_on_startup``, what ``placement-manage db sync`` runs) and
``[api] auth_strategy = noauth2``: the token ``admin`` is an admin.

Placement configures its database engine once per process: one server per
process.
"""
from __future__ import annotations

import threading
import uuid as uuidlib
from pathlib import Path
from typing import Any, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cpucompat.placement.client import PlacementClient

TOKEN = "admin"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (wsgiref's name)
        pass


class PlacementServer:
    """A running Placement: its `url`, a `client()`, and `stop()`."""

    def __init__(self, conf: Any, server: WSGIServer) -> None:
        self.conf = conf
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}"
        self.thread = threading.Thread(target=server.serve_forever, name="placement", daemon=True)
        self.thread.start()

    def client(self) -> PlacementClient:
        return PlacementClient.from_url(self.url, TOKEN)

    def clear(self) -> None:
        """Delete every resource provider and custom trait."""
        client = self.client()
        for provider in client.providers():
            client._call("DELETE", f"/resource_providers/{provider.uuid}", "delete provider", expect=(204,))
        for trait in client.traits("CUSTOM_"):
            client._call("DELETE", f"/traits/{trait}", "delete trait", expect=(204,))

    def bulk_create(self, names: Iterable[str], vcpus: int = 64) -> None:
        """Create root providers with a VCPU inventory through Placement's
        own object layer, in-process: REST takes two calls a provider, which
        for 10,000 computes is minutes of set-up nobody measures."""
        from placement import context, db_api
        from placement.objects.inventory import Inventory
        from placement.objects.resource_provider import ResourceProvider

        ctx = context.RequestContext(config=self.conf, is_admin=True)
        with db_api.placement_context_manager.writer.using(ctx):  # one commit, not two per provider
            for name in names:
                rp = ResourceProvider(ctx, uuid=str(uuidlib.uuid4()), name=name)
                rp.create()
                rp.set_inventory([Inventory(resource_provider=rp, resource_class="VCPU", total=vcpus)])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start_placement(directory: Path, **options: dict[str, Any]) -> PlacementServer:
    """A Placement with its database in `directory`; `options` are
    config groups → {option: value} (``placement={"max_...": 1}``)."""
    from oslo_config import cfg
    from placement import conf as placement_conf
    from placement import db_api, deploy

    config = directory / "placement.conf"
    config.write_text(f"[placement_database]\nconnection = sqlite:///{directory / 'placement.db'}\n"
                      "sync_on_startup = true\n[api]\nauth_strategy = noauth2\n")
    conf = cfg.ConfigOpts()
    placement_conf.register_opts(conf)
    conf([], project="placement", default_config_files=[str(config)])
    for group, values in options.items():
        for name, value in values.items():
            conf.set_override(name, value, group=group)
    db_api.configure(conf)
    app = deploy.loadapp(conf)
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    return PlacementServer(conf, server)
