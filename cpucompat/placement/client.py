"""A small client of Placement's REST API: the calls that putting traits on
compute nodes' resource providers needs, for the CLI and for capacity tools.

It talks through a keystoneauth1 adapter (service type ``placement``), made
from a ``clouds.yaml`` cloud (`PlacementClient.from_cloud`) or from an
endpoint URL and a token (`PlacementClient.from_url`).  Every call sends
one explicit microversion, `MICROVERSION` = 1.23 (Rocky): 1.6 brought
traits, 1.18 ``GET /resource_providers?required=``, and 1.23 an error
``code`` that tells a generation conflict (``placement.concurrent_update``)
from other 409s; every Placement since Rocky serves it.

Responses are read in chunks up to `MAX_RESPONSE_BYTES` and refused past
it, never whole into memory; every HTTP failure becomes one
`PlacementError` line naming the call (and provider) and the status.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from urllib.parse import quote, urlsplit

from ..display import shown
from ..errors import GenerationConflict, InvalidConfig, MissingDependency, PlacementError

if TYPE_CHECKING:
    from keystoneauth1.adapter import Adapter

__all__ = ["MICROVERSION", "MAX_RESPONSE_BYTES", "Provider", "ProviderTraits", "PlacementClient",
           "check_placement_url"]

MICROVERSION = "1.23"
MAX_RESPONSE_BYTES = 64 * 2**20  # GET /resource_providers of 100,000 providers is about 60 MiB
TIMEOUT = 60.0  # seconds for one call


@dataclass(frozen=True, slots=True)
class Provider:
    """A resource provider: for a compute node, its name is the hypervisor
    host name Nova reports."""

    uuid: str
    name: str
    generation: int


@dataclass(frozen=True, slots=True)
class ProviderTraits:
    """A provider's traits as read, with the generation a write must quote."""

    traits: frozenset[str]
    generation: int


def check_placement_url(url: str) -> str:
    """`url` when it is a plain http(s) endpoint (a host, an optional port
    and path), else InvalidConfig naming it: no other scheme, no user or
    password inside it (a token goes in ``OS_TOKEN``), no query or fragment.

    Not cpucompat.inputs.uris: that module's rules are libvirt's URIs."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        raise InvalidConfig(f"not a Placement URL: {exc}", source=shown(url)) from None
    if parts.scheme not in ("http", "https"):
        raise InvalidConfig("a Placement URL must be http:// or https://", source=shown(url))
    if not parts.hostname:
        raise InvalidConfig("a Placement URL must name a host", source=shown(url))
    if parts.username is not None or parts.password is not None:
        raise InvalidConfig("a Placement URL must not carry a user or password (give the token in OS_TOKEN)",
                            source=shown(url))
    if parts.query or parts.fragment:
        raise InvalidConfig("a Placement URL must not have a query or fragment", source=shown(url))
    return url


def _keystoneauth() -> Any:
    try:
        from keystoneauth1 import adapter, session, token_endpoint
    except ImportError:
        raise MissingDependency("talking to Placement needs keystoneauth1: pip install 'cpucompat[placement]'") \
            from None
    return adapter, session, token_endpoint


class PlacementClient:
    """Placement's resource providers and traits, through a keystoneauth1
    adapter whose endpoint is Placement's."""

    def __init__(self, adapter: "Adapter", *, max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.adapter = adapter
        self.max_response_bytes = max_response_bytes
        self.where = shown(getattr(adapter, "endpoint_override", None) or "placement")

    @classmethod
    def from_url(cls, url: str, token: str | None = None, **options: Any) -> "PlacementClient":
        """A client for the Placement at `url` (http or https only), sending
        `token` (default: the ``OS_TOKEN`` environment variable)."""
        check_placement_url(url)
        token = token if token is not None else os.environ.get("OS_TOKEN")
        if not token:
            raise InvalidConfig("a Placement URL needs a token: set OS_TOKEN or give --token", source=shown(url))
        adapter, session, token_endpoint = _keystoneauth()
        auth = token_endpoint.Token(url, token)
        ks = session.Session(auth=auth, timeout=TIMEOUT)
        return cls(adapter.Adapter(ks, service_type="placement", endpoint_override=url), **options)

    @classmethod
    def from_cloud(cls, cloud: str, **options: Any) -> "PlacementClient":
        """A client for the Placement of `cloud`, a name in ``clouds.yaml``
        (found and read by openstacksdk's config loader, with its
        authentication, region and interface)."""
        adapter, _, _ = _keystoneauth()
        try:
            from openstack import config as os_config
        except ImportError:
            raise MissingDependency("--cloud needs openstacksdk: pip install 'cpucompat[placement]'") from None
        try:
            region = os_config.OpenStackConfig().get_one(cloud=cloud)
            ks = region.get_session()
        except Exception as exc:  # openstacksdk raises its own and keystoneauth's errors
            raise InvalidConfig(f"cannot use this cloud: {type(exc).__name__}: {exc}",
                                source=f"clouds.yaml cloud {shown(cloud)}") from None
        client = adapter.Adapter(ks, service_type="placement", interface=region.get_interface("placement"),
                                 region_name=region.get_region_name("placement"))
        made = cls(client, **options)
        made.where = f"Placement of cloud {shown(cloud)}"
        return made

    # -- one call ----------------------------------------------------------

    def _call(self, method: str, path: str, what: str, body: Any = None,
              expect: Iterable[int] = (200,)) -> Any:
        """One call; its JSON answer (None when it has no body), or
        PlacementError naming `what` and the status."""
        kwargs: dict[str, Any] = {"microversion": MICROVERSION, "raise_exc": False, "stream": True,
                                  "redirect": False, "log": False, "headers": {"Accept": "application/json"}}
        if body is not None:
            kwargs["json"] = body
        try:
            resp = self.adapter.request(path, method, **kwargs)
        except Exception as exc:  # keystoneauth: connection, TLS, timeout, authentication
            raise PlacementError(f"{what}: cannot reach Placement: {type(exc).__name__}: {exc}",
                                 source=self.where) from None
        try:
            data = self._read(resp, what)
        finally:
            resp.close()
        if resp.status_code not in expect:
            detail = self._error_detail(data)
            message = f"{what}: HTTP {resp.status_code}{': ' + detail if detail else ''}"
            if resp.status_code == 409 and self._error_code(data) == "placement.concurrent_update":
                raise GenerationConflict(message, source=self.where, status=409)
            raise PlacementError(message, source=self.where, status=resp.status_code)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise PlacementError(f"{what}: the answer is not JSON", source=self.where,
                                 status=resp.status_code) from None

    def _read(self, resp: Any, what: str) -> bytes:
        chunks, size = [], 0
        for chunk in resp.iter_content(65536):
            size += len(chunk)
            if size > self.max_response_bytes:
                raise PlacementError(f"{what}: the answer is larger than {self.max_response_bytes:,} bytes",
                                     source=self.where, status=resp.status_code)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _errors(data: bytes) -> list[Mapping[str, Any]]:
        try:
            errors = json.loads(data).get("errors")
        except (ValueError, AttributeError):
            return []
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []

    def _error_detail(self, data: bytes) -> str:
        details = [str(e.get("detail") or e.get("title") or "") for e in self._errors(data)]
        return " ".join(" ".join(d.split()) for d in details if d)[:300]

    def _error_code(self, data: bytes) -> str | None:
        codes = [e.get("code") for e in self._errors(data)]
        return str(codes[0]) if codes else None

    # -- resource providers -------------------------------------------------

    def providers(self, required: Iterable[str] = ()) -> list[Provider]:
        """Every resource provider (or only those with all `required`
        traits), in one bounded read: Placement does not page this list."""
        required = sorted(required)
        path = "/resource_providers" + (f"?required={quote(','.join(required))}" if required else "")
        what = "list resource providers" + (f" with {', '.join(required)}" if required else "")
        data = self._call("GET", path, what)
        try:
            return [Provider(str(p["uuid"]), str(p["name"]), int(p["generation"]))
                    for p in data["resource_providers"]]
        except (KeyError, TypeError, ValueError):
            raise PlacementError(f"{what}: unexpected answer", source=self.where) from None

    def providers_by_name(self) -> dict[str, Provider]:
        """Every resource provider, by name (Placement keeps names unique)."""
        return {p.name: p for p in self.providers()}

    def create_provider(self, name: str, vcpus: int | None = None) -> Provider:
        """A new root resource provider named `name`, with a VCPU inventory
        of `vcpus` when given (what a compute node registers)."""
        what = f"create resource provider {shown(name)}"
        data = self._call("POST", "/resource_providers", what, {"name": name}, expect=(200,))
        provider = Provider(str(data["uuid"]), str(data["name"]), int(data["generation"]))
        if vcpus is not None:
            inv = self._call("PUT", f"/resource_providers/{provider.uuid}/inventories",
                             f"set the inventory of {shown(name)}",
                             {"resource_provider_generation": provider.generation,
                              "inventories": {"VCPU": {"total": vcpus}}})
            provider = Provider(provider.uuid, provider.name, int(inv["resource_provider_generation"]))
        return provider

    def candidate_providers(self, resources: str, required: Iterable[str] = (),
                            limit: int | None = None) -> list[str]:
        """The root providers (uuids, in Placement's order) of the allocation
        candidates ``GET /allocation_candidates`` returns for `resources`
        (``VCPU:1``) and the `required` traits, at most `limit` of them:
        what Nova's scheduler would be handed."""
        query = f"resources={quote(resources)}"
        required = sorted(required)
        if required:
            query += f"&required={quote(','.join(required))}"
        if limit is not None:
            query += f"&limit={int(limit)}"
        data = self._call("GET", f"/allocation_candidates?{query}", f"allocation candidates for {resources}")
        out: list[str] = []
        for request in data.get("allocation_requests", []):
            for uuid in request.get("allocations", {}):
                if uuid not in out:
                    out.append(uuid)
        return out

    # -- traits -------------------------------------------------------------

    def traits(self, prefix: str = "", associated: bool | None = None) -> frozenset[str]:
        """The traits Placement knows whose names start with `prefix` (only
        those some provider has, with `associated`)."""
        query = [f"name=startswith:{quote(prefix)}"] if prefix else []
        if associated is not None:
            query.append(f"associated={'true' if associated else 'false'}")
        data = self._call("GET", "/traits" + ("?" + "&".join(query) if query else ""),
                          f"list traits {shown(prefix)}*")
        return frozenset(str(t) for t in data["traits"])

    def ensure_trait(self, name: str) -> None:
        """Create the custom trait `name` unless it exists (201 or 204)."""
        self._call("PUT", f"/traits/{quote(name, safe='')}", f"create trait {shown(name)}", expect=(201, 204))

    def provider_traits(self, provider: Provider) -> ProviderTraits:
        """The traits of `provider`, with its current generation."""
        data = self._call("GET", f"/resource_providers/{provider.uuid}/traits",
                          f"read the traits of {shown(provider.name)}")
        return ProviderTraits(frozenset(str(t) for t in data["traits"]), int(data["resource_provider_generation"]))

    def set_provider_traits(self, provider: Provider, traits: Iterable[str], generation: int) -> ProviderTraits:
        """Replace every trait of `provider` with `traits`, if it is still
        at `generation` (else GenerationConflict); the new state."""
        data = self._call("PUT", f"/resource_providers/{provider.uuid}/traits",
                          f"set the traits of {shown(provider.name)}",
                          {"traits": sorted(traits), "resource_provider_generation": generation})
        return ProviderTraits(frozenset(str(t) for t in data["traits"]), int(data["resource_provider_generation"]))
