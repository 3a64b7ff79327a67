"""A fleet inventory: host names and their CPUs, from any source.

One loader, format detected from content:

* ``sample``: the fleet shipped with cpucompat (real CPUs from libvirt's
  test data, decoded by cpucompat);
* a directory with one file per host (any format `parse` reads; the host
  name is the file name without its extension);
* a JSON or YAML file mapping host names to a CPU (Nova ``cpu_info``
  object, CPU XML text, or a path to a file), optionally under ``hosts``;
* a dump of Nova's ``compute_nodes`` (rows with ``hypervisor_hostname`` and
  ``cpu_info``, as ``openstack hypervisor list --long -f json`` or a DB
  export gives them);
* libvirt URIs (``qemu:///system``, ``qemu+ssh://host/system``), read
  concurrently with a per-host timeout.

A host that cannot be read is kept in ``failures`` with its reason; the
others load.  Host names are never merged: a duplicate is a failure.
"""
from __future__ import annotations

import concurrent.futures
import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from .cpu import Cpu
from .cpumap import CpuMap, embedded_cpu_map
from .errors import CpuCompatError, InvalidInventory
from .parse import parse_cpu_info, parse_cpus, read_cpus, read_text

SAMPLE = "sample"
URI_SCHEMES = ("qemu:", "qemu+", "test:", "test+", "xen:", "lxc:")


@dataclass(frozen=True)
class Inventory:
    """Hosts and their CPUs, plus the hosts that could not be read."""

    hosts: Mapping[str, Cpu]
    failures: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


def sample_path() -> Path:
    """The shipped sample fleet (see data/fleet/SOURCE)."""
    return Path(str(resources.files("cpucompat.data") / "fleet" / "sample.json"))


def load_inventory(sources: str | Path | Iterable[str | Path], cpumap: CpuMap | None = None,
                   *, timeout: float = 30.0, progress: bool = False) -> Inventory:
    """Load one or several inventory sources into one Inventory."""
    cpumap = cpumap if cpumap is not None else embedded_cpu_map()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    hosts: dict[str, Cpu] = {}
    failures: dict[str, str] = {}
    uris: list[str] = []
    names = []
    for source in sources:
        text = str(source)
        names.append(text)
        if text == SAMPLE:
            _merge(hosts, failures, *_from_file(sample_path(), cpumap))
        elif text.startswith(URI_SCHEMES):
            uris.append(text)
        else:
            path = Path(text)
            if path.is_dir():
                _merge(hosts, failures, *_from_directory(path, cpumap))
            elif path.exists():
                _merge(hosts, failures, *_from_file(path, cpumap))
            else:
                raise InvalidInventory("no such file, directory or libvirt URI", source=text)
    if uris:
        _merge(hosts, failures, *_from_uris(uris, cpumap, timeout, progress))
    if not hosts and not failures:
        raise InvalidInventory("inventory holds no hosts", source=", ".join(names))
    return Inventory(hosts, failures, ", ".join(names))


def _add(hosts: dict[str, Cpu], failures: dict[str, str], name: str, cpu: Cpu, where: str = "") -> None:
    """Add a host, or report a second description of it (never merged)."""
    if name in hosts or name in failures:
        failures[f"{name} (duplicate{', ' + where if where else ''})"] = \
            "host name appears twice in the inventory; the first is kept"
    else:
        hosts[name] = cpu


def _merge(hosts: dict[str, Cpu], failures: dict[str, str], new_hosts: dict[str, Cpu],
           new_failures: dict[str, str]) -> None:
    for name, cpu in new_hosts.items():
        _add(hosts, failures, name, cpu)
    for name, reason in new_failures.items():
        failures[name if name not in failures else f"{name} (duplicate)"] = reason


def _from_directory(path: Path, cpumap: CpuMap) -> tuple[dict[str, Cpu], dict[str, str]]:
    hosts: dict[str, Cpu] = {}
    failures: dict[str, str] = {}
    for entry in sorted(path.iterdir()):
        if not entry.is_file() or entry.name.startswith("."):
            continue
        name = entry.name.split(".")[0]
        try:
            cpus = read_cpus(entry, cpumap)
        except CpuCompatError as exc:
            failures[name] = str(exc)
            continue
        _add(hosts, failures, name, cpus[0], entry.name)
    return hosts, failures


MAX_INVENTORY_BYTES = 1 << 30  # a million hosts in JSON is a few hundred MiB


def _from_file(path: Path, cpumap: CpuMap) -> tuple[dict[str, Cpu], dict[str, str]]:
    text = read_text(path, max_bytes=MAX_INVENTORY_BYTES)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidInventory(f"invalid JSON: {exc}", source=str(path)) from None
    elif stripped.startswith("<"):
        cpus = parse_cpus(text, str(path), cpumap)
        return {path.name.split(".")[0]: cpus[0]}, {}
    else:
        value = _yaml(text, path)
    return _from_value(value, path, cpumap)


def _yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise InvalidInventory("YAML inventories need PyYAML (pip install pyyaml)", source=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInventory(f"invalid YAML: {exc}", source=str(path)) from None


_NAME_KEYS = ("hypervisor_hostname", "Hypervisor Hostname", "host", "name", "hostname")
_CPU_KEYS = ("cpu_info", "CPU Info", "cpu")


def _from_value(value: Any, path: Path, cpumap: CpuMap) -> tuple[dict[str, Cpu], dict[str, str]]:
    if isinstance(value, dict) and isinstance(value.get("hosts"), (dict, list)):
        value = value["hosts"]
    rows: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        rows = list(value.items())
    elif isinstance(value, list):
        for i, row in enumerate(value):
            if not isinstance(row, dict):
                raise InvalidInventory(f"row {i} is not an object", source=str(path))
            name = next((row[k] for k in _NAME_KEYS if row.get(k)), None)
            cpu = next((row[k] for k in _CPU_KEYS if k in row), None)
            rows.append((str(name) if name is not None else f"<row {i}>", cpu))
    else:
        raise InvalidInventory("expected an object of hosts or a list of compute nodes", source=str(path))
    hosts: dict[str, Cpu] = {}
    failures: dict[str, str] = {}
    seen: dict[object, Cpu] = {}  # fleets repeat a few CPUs many times: parse each once
    for name, described in rows:
        where = f"{path}: host {name}"
        key = _cache_key(described)
        try:
            cpu = seen.get(key) if key is not None else None
            if cpu is None:
                cpu = _cpu_of(described, where, path.parent, cpumap)
                if key is not None:
                    seen[key] = cpu
        except CpuCompatError as exc:
            failures[name] = str(exc)
            continue
        _add(hosts, failures, name, cpu)
    return hosts, failures


def _cache_key(described: Any) -> object:
    if isinstance(described, str):
        return described
    if isinstance(described, dict) and isinstance(described.get("features", []), list):
        key = (described.get("arch"), described.get("model"), described.get("vendor"),
               tuple(described.get("features", ())))
        try:
            hash(key)
        except TypeError:  # odd values (lists) are parsed, and refused, one by one
            return None
        return key
    return None


def _cpu_of(described: Any, where: str, base: Path, cpumap: CpuMap) -> Cpu:
    if described is None or described == "" or described == {}:
        raise InvalidInventory("no CPU information", source=where)
    if isinstance(described, dict):
        return parse_cpu_info(described, where, cpumap)
    if isinstance(described, str):
        stripped = described.lstrip()
        if stripped.startswith(("{", "<", '"')) or "flags" in stripped[:2000]:
            return parse_cpus(described, where, cpumap)[0]
        path = Path(described) if Path(described).is_absolute() else base / described
        return read_cpus(path, cpumap)[0]
    raise InvalidInventory(f"CPU given as {type(described).__name__}, expected an object, XML or a path",
                           source=where)


def _from_uris(uris: list[str], cpumap: CpuMap, timeout: float,
               progress: bool) -> tuple[dict[str, Cpu], dict[str, str]]:
    from .live import host_cpu_from_libvirt

    hosts: dict[str, Cpu] = {}
    failures: dict[str, str] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(uris)))
    futures = {pool.submit(host_cpu_from_libvirt, uri, cpumap): uri for uri in uris}
    done = 0
    try:
        for future in concurrent.futures.as_completed(futures, timeout=timeout):
            uri = futures[future]
            try:
                hosts[uri] = future.result()
            except CpuCompatError as exc:
                failures[uri] = str(exc)
            done += 1
            if progress:
                print(f"\rread {done}/{len(uris)} hosts", end="", file=sys.stderr, flush=True)
    except concurrent.futures.TimeoutError:
        for future, uri in futures.items():
            if not future.done():
                failures[uri] = f"no answer within {timeout:g} s"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if progress:
            print(file=sys.stderr)
    return hosts, failures
