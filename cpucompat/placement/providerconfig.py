"""Nova provider config files carrying each compute's ``CUSTOM_CPUCOMPAT_*`` traits.

Nova's compute service reads every ``*.yaml`` of ``[compute]
provider_config_location`` (schema 1.0) and adds the ``traits: additional:``
of the provider it names to its resource provider in Placement: the traits
reach Placement with no admin API call.  One file per compute, identified by
``name``, the compute node's hypervisor host name (the inventory's host
name); the operator ships each file to its compute (or all of them: Nova
ignores providers it does not manage).

Writing is idempotent: a file whose bytes would not change is left alone,
the others are replaced atomically (`cpucompat.atomic.write_atomic`).  Files
cpucompat wrote earlier (named ``cpucompat-*.yaml`` and starting with
HEADER) for hosts no longer in the inventory are removed; no other file is
touched, nor followed through a link.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from ..atomic import write_atomic
from ..errors import CpuCompatError, UnwritableFile
from ..safefile import read_regular

__all__ = ["FILE_PREFIX", "HEADER", "MAX_PROVIDER_NAME", "ProviderConfigs", "config_file_names",
           "provider_config", "write_provider_configs"]

FILE_PREFIX, FILE_SUFFIX = "cpucompat-", ".yaml"
HEADER = "# cpucompat provider config: `cpucompat placement provider-configs` replaces or removes this file\n"
MAX_PROVIDER_NAME = 200  # Nova's schema: identification.name is at most 200 characters
MAX_FILE_NAME = 100  # characters of the host name kept in a file name (a digest tells the rest apart)
MAX_CONFIG_BYTES = 1 << 20  # a file of ours is far smaller; a larger one is not ours
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_OURS = re.compile(re.escape(FILE_PREFIX) + r".*" + re.escape(FILE_SUFFIX), re.DOTALL)


def _refusal(host: str) -> str | None:
    """Why `host` cannot be a provider name in a file Nova reads, or None."""
    if not host:
        return "an empty host name names no resource provider"
    if len(host) > MAX_PROVIDER_NAME:
        return f"host name of {len(host)} characters, Nova's provider config allows {MAX_PROVIDER_NAME}"
    if not host.isprintable():
        return "host name holds control or unprintable characters: no compute node is named so"
    return None


def _digest(host: str) -> str:
    return hashlib.sha256(host.encode("utf-8")).hexdigest()[:10]


def config_file_names(hosts: Iterable[str]) -> dict[str, str]:
    """host → its file name: ``cpucompat-<host>.yaml``, with every character
    but ``[A-Za-z0-9._-]`` made ``_`` and a digest of the exact name added
    when it had to change (or the name was long), so no file name
    traverses a path, hides, or is shared by two hosts (letter case
    ignored, as a case-insensitive file system does)."""
    names: dict[str, str] = {}
    for host in hosts:
        safe = _UNSAFE.sub("_", host)
        if safe != host or len(safe) > MAX_FILE_NAME:
            safe = f"{safe[:MAX_FILE_NAME]}-{_digest(host)}"
        names[host] = safe
    seen: dict[str, list[str]] = {}
    for host, safe in names.items():
        seen.setdefault(safe.lower(), []).append(host)
    for clashing in (hosts_ for hosts_ in seen.values() if len(hosts_) > 1):
        for host in clashing:  # each gets the digest of its exact name
            names[host] = f"{names[host][:MAX_FILE_NAME]}-{_digest(host)}"
    if len({n.lower() for n in names.values()}) != len(names):
        raise CpuCompatError("host names give the same provider config file name even with digests")
    return {host: f"{FILE_PREFIX}{safe}{FILE_SUFFIX}" for host, safe in names.items()}


def provider_config(host: str, traits: Iterable[str]) -> str:
    """The provider config file (schema 1.0) adding `traits` to the resource
    provider named `host`; the same bytes for the same input."""
    refusal = _refusal(host)
    if refusal:
        raise CpuCompatError(refusal, source=f"host {host[:MAX_PROVIDER_NAME]!r}")
    name = host.replace("\\", "\\\\").replace('"', '\\"')  # a YAML double-quoted scalar
    lines = [HEADER.rstrip("\n"), "meta:", '  schema_version: "1.0"', "providers:", "  - identification:",
             f'      name: "{name}"', "    traits:", "      additional:"]
    lines += [f"        - {trait}" for trait in sorted(set(traits))]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ProviderConfigs:
    """What `write_provider_configs` did (or, dry run, would do), file names
    relative to `directory`."""

    directory: str
    files: Mapping[str, str]  # host → its file name
    written: tuple[str, ...]  # new or changed
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]  # cpucompat's files of hosts no longer in the inventory
    refused: Mapping[str, str] = field(default_factory=dict)  # host → why it gets no file
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"directory": self.directory, "dry_run": self.dry_run, "files": dict(self.files),
                "written": list(self.written), "unchanged": list(self.unchanged), "removed": list(self.removed),
                "refused": dict(self.refused)}


def _ours(path: Path) -> bool:
    """A regular file (not a link) starting with HEADER: one cpucompat wrote."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        return read_regular(path, max_bytes=MAX_CONFIG_BYTES).startswith(HEADER.encode())
    except (OSError, CpuCompatError):
        return False


def _current(path: Path) -> bytes | None:
    """The bytes of the file at `path`, None when there is none; refuses
    anything but a regular file (never written through a link)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnwritableFile(f"cannot read: {exc.strerror}", source=str(path)) from None
    if not stat.S_ISREG(mode):
        raise UnwritableFile("exists and is not a regular file: left alone", source=str(path))
    try:
        return read_regular(path, max_bytes=MAX_CONFIG_BYTES)
    except CpuCompatError:
        return b""  # too large to be ours: replaced


def write_provider_configs(traits: Mapping[str, Iterable[str]], directory: str | os.PathLike[str], *,
                           dry_run: bool = False) -> ProviderConfigs:
    """One provider config file per host of `traits` (host → its traits,
    `host_traits`) in `directory` (created if missing), as the module
    docstring says.  Hosts whose name Nova cannot take are `refused`."""
    root = Path(directory)
    refused = {h: r for h in sorted(traits) if (r := _refusal(h)) is not None}
    files = config_file_names(h for h in sorted(traits) if h not in refused)
    if not dry_run and not root.exists():
        try:
            root.mkdir()
        except OSError as exc:
            raise UnwritableFile(f"cannot create the directory: {exc.strerror}", source=str(root)) from None
    elif root.exists() and not root.is_dir():
        raise UnwritableFile("is not a directory", source=str(root))
    written, unchanged = [], []
    for host, name in files.items():
        data = provider_config(host, traits[host]).encode("utf-8")
        path = root / name
        if _current(path) == data:
            unchanged.append(name)
            continue
        if not dry_run:
            write_atomic(path, data)
        written.append(name)
    wanted = set(files.values())
    removed = []
    if root.is_dir():
        for entry in sorted(os.listdir(root)):
            if entry not in wanted and _OURS.fullmatch(entry) and _ours(root / entry):
                if not dry_run:
                    try:
                        os.unlink(root / entry)
                    except OSError as exc:
                        raise UnwritableFile(f"cannot remove: {exc.strerror}", source=str(root / entry)) from None
                removed.append(entry)
    return ProviderConfigs(str(root), files, tuple(written), tuple(unchanged), tuple(removed), refused, dry_run)
