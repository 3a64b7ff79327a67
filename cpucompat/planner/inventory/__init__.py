"""A fleet inventory: host names and their CPUs, from any source.

One loader, format detected from content:

* ``sample``: the fleet shipped with cpucompat (real CPUs from libvirt's
  test data, decoded by cpucompat);
* a directory with one file per host (any format `parse` reads; the host
  name is the file name without a known extension: ``node1.dc1.xml`` is
  host ``node1.dc1``), or one subdirectory per host (the host name is the
  directory's; it holds ``capabilities.xml`` or a single host file);
* a JSON or YAML file mapping host names to a CPU (Nova ``cpu_info``
  object, CPU XML text, or the path of a regular file: these inventories
  are the user's own), optionally under ``hosts``
  (members beside it are reported, never read as hosts);
  keys are read as written (YAML ``no:`` is host ``no``, ``1.10`` is
  ``1.10``) and a key given twice is reported, never overwritten;
* Nova's hypervisors with their ``cpu_info``: ``openstack hypervisor show
  HOST -f json`` output (one object, or several concatenated or in a list),
  the API's ``{"hypervisors": [...]}`` (pages of it concatenated too), or
  rows of the ``compute_nodes`` table (JSON rows or ``mysql -B`` output;
  soft-deleted rows are skipped, a ``deleted`` that is no row id is a
  failure); their values are Nova's data, never read as file names;
* a text file listing libvirt URIs, one a line, or the URIs themselves
  (``qemu:///system``, ``qemu+ssh://host/system``): read concurrently, at
  most MAX_CONCURRENT_HOSTS attempts within their deadline at a time, each
  host given `timeout` seconds from when its own attempt starts (see
  live.from_uris for attempts past it).  Every URI is checked first
  (`cpucompat.inputs.uris`: nothing that runs a program or opens a local file or
  socket); only URIs given directly, with `trust_given_uris`, skip it.

A host that cannot be read is kept in ``failures`` with its reason; the
others load.  Host names are never merged: a duplicate is a failure, and
no failure ever replaces another.

JSON and ``mysql -B`` files are read a row (a host) at a time, and the
hosts of one CPU description share one parsed Cpu: memory grows with the
number of hosts (their names), not with the size of their descriptions.
A row past jsonstream.MAX_VALUE_CHARS (1 MiB; a cpu_info is a few KiB) is
passed over unread and its host listed, as is a host whose description
holds an integer too long to read.  Names are kept exact, even those
that are not text (a lone surrogate, a file name that is not UTF-8):
the outputs escape them.  Files are
opened only when regular (never a FIFO or device); YAML is read whole,
within inputs.yamlread.MAX_YAML_BYTES.

The package holds one module per kind of source: ``detect`` (which kind a
file is), ``shapes`` (the shapes of JSON and YAML inventories), ``nova``
(Nova's rows and ``mysql -B``), ``describe`` (one host's description → its
Cpu), ``files`` (directories of host files), ``live`` (libvirt URIs), and
``found`` (hosts and failures as they are read).  Nothing here prints:
progress goes to an `on_progress(done, total, unit)` callback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from ...display import shown
from ...engine.cpu import Cpu
from ...engine.cpumap import CpuMap, embedded_cpu_map
from ...errors import InvalidInventory, UnsafeUri
from ...inputs.uris import check_uri
from ...inputs.yamlread import TOO_DEEP
from ...packagedata import data_path
from .detect import MAX_INVENTORY_BYTES, URI_SCHEMES, load_file
from .files import HOST_DIRECTORY_FILE, HOST_FILE_SUFFIXES, from_directory
from .found import DUPLICATE, Found, OnProgress
from .live import MAX_CONCURRENT_HOSTS, from_uris
from .nova import NO_CPU_INFO_HINT

__all__ = ["SAMPLE", "URI_SCHEMES", "HOST_FILE_SUFFIXES", "HOST_DIRECTORY_FILE", "MAX_CONCURRENT_HOSTS",
           "MAX_INVENTORY_BYTES", "DUPLICATE", "TOO_DEEP", "Inventory", "OnProgress", "sample_path",
           "load_inventory", "NO_CPU_INFO_HINT"]

SAMPLE = "sample"


@dataclass(frozen=True)
class Inventory:
    """Hosts and their CPUs, plus the hosts that could not be read."""

    hosts: Mapping[str, Cpu]
    failures: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


def sample_path() -> Path:
    """The shipped sample fleet (see data/fleet/SOURCE)."""
    return data_path("fleet", "sample.json")


def load_inventory(sources: str | Path | Iterable[str | Path], cpumap: CpuMap | None = None,
                   *, timeout: float = 30.0, on_progress: OnProgress | None = None,
                   trust_given_uris: bool = False) -> Inventory:
    """Load one or several inventory sources into one Inventory.

    `timeout` bounds each live host's attempt; `on_progress(done, total,
    unit)` hears, now and then, how many bytes of a large JSON or
    ``mysql -B`` file, or how many live hosts, are read.  Every
    libvirt URI is checked by `cpucompat.inputs.uris.check_uri` before libvirt
    opens it (a refused one is an unreadable host), except, with
    `trust_given_uris`, the URIs given as `sources` themselves; URIs read
    from files are always checked.
    """
    cpumap = cpumap if cpumap is not None else embedded_cpu_map()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    found = Found()
    uris: dict[str, str] = {}  # URI → where it was given
    repeated_uris: list[tuple[str, str]] = []
    refused: dict[str, str] = {}  # URI → why it is not opened
    names = []
    for source in sources:
        names.append(str(source))
        for uri in _load_source(str(source), found, cpumap, on_progress):
            if uri in uris:
                repeated_uris.append((uri, f"given twice ({shown(uris[uri])}, {shown(source)}); read once"))
                continue
            uris[uri] = str(source)
            if not (trust_given_uris and uri == str(source)):
                try:
                    check_uri(uri)
                except UnsafeUri as exc:
                    refused[uri] = str(exc)
    for uri, reason in refused.items():
        del uris[uri]
        found.failure(uri, reason, "")
    if uris:
        found.merge(from_uris(list(uris), cpumap, timeout, on_progress), "")
    for uri, reason in repeated_uris:
        found.failure(uri, f"{uri}: {reason}", "")
    if not found.hosts and not found.failures:
        raise InvalidInventory("inventory holds no hosts", source=", ".join(names))
    return Inventory(found.hosts, found.failures, ", ".join(names))


def _load_source(text: str, found: Found, cpumap: CpuMap, on_progress: OnProgress | None) -> list[str]:
    """Load 'sample', a directory or a file into `found`; return the URIs the
    source names instead (a URI, or a file listing URIs)."""
    if text == SAMPLE:
        return load_file(sample_path(), found, text, cpumap, on_progress)
    if text.startswith(URI_SCHEMES):
        return [text]
    path = Path(text)
    if path.is_dir():
        found.merge(from_directory(path, cpumap), text)
        return []
    if not path.exists():
        raise InvalidInventory("no such file, directory or libvirt URI", source=text)
    return load_file(path, found, text, cpumap, on_progress)
