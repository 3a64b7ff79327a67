"""Inventories as files on disk: a directory of host files, or of per-host
directories; the host name is the file's (without a known extension) or the
directory's."""
from __future__ import annotations

from pathlib import Path

from ...engine.cpu import Cpu
from ...engine.cpumap import CpuMap
from ...errors import CpuCompatError, InvalidInventory
from ...inputs.parse import read_cpus
from ...inputs.yamlread import TOO_DEEP
from .found import Found

__all__ = ["HOST_FILE_SUFFIXES", "HOST_DIRECTORY_FILE", "host_name", "from_directory", "one_cpu"]

# Extensions the directory loader strips from a file name to get the host
# name: the formats `parse` reads (the content decides the format).
HOST_FILE_SUFFIXES = (".xml", ".json", ".txt", ".cpuinfo")
HOST_DIRECTORY_FILE = "capabilities.xml"  # `virsh capabilities > HOST/capabilities.xml`


def host_name(file_name: str) -> str:
    """`node1.dc1.example.com.xml` → `node1.dc1.example.com`: only a known extension goes."""
    for suffix in HOST_FILE_SUFFIXES:
        if file_name.lower().endswith(suffix) and len(file_name) > len(suffix):
            return file_name[:-len(suffix)]
    return file_name


def from_directory(path: Path, cpumap: CpuMap) -> Found:
    found = Found()
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue
        name = entry.name if entry.is_dir() else host_name(entry.name)
        try:
            cpu = _read_host_entry(entry, cpumap)
        except CpuCompatError as exc:
            found.failure(name, str(exc), entry.name)
            continue
        found.host(name, cpu, entry.name)
    return found


def one_cpu(cpus: list[Cpu], where: str) -> Cpu:
    """The CPU a host's description gives: the first, and an empty one
    (``[]``, ``<cpus/>``) is that host's error, not an IndexError."""
    if not cpus:
        raise InvalidInventory("describes no CPU", source=where)
    return cpus[0]


def _read_host_entry(entry: Path, cpumap: CpuMap) -> Cpu:
    if entry.is_dir():
        entry = _host_directory_file(entry)
    try:  # only a regular file is read: a FIFO, device or broken link is refused, naming what it is
        return one_cpu(read_cpus(entry, cpumap), str(entry))
    except RecursionError:  # thousands of nested brackets: json gives up
        raise InvalidInventory(TOO_DEEP, source=str(entry)) from None


def _host_directory_file(directory: Path) -> Path:
    """The file describing the host of a per-host directory."""
    if (directory / HOST_DIRECTORY_FILE).is_file():
        return directory / HOST_DIRECTORY_FILE
    files = sorted(f for f in directory.iterdir() if f.is_file() and not f.name.startswith("."))
    if len(files) == 1:
        return files[0]
    listed = ", ".join(f.name for f in files[:5]) + (", ..." if len(files) > 5 else "")
    raise InvalidInventory(f"a host directory needs {HOST_DIRECTORY_FILE} or a single host file; it holds "
                           + (f"{len(files)}: {listed}" if files else "none"), source=str(directory))

