"""Reading libvirt's cpu_map into immutable per-arch tables.

Both layouts libvirt has shipped load into the same values:

* the split layout (libvirt >= 4.7): ``index.xml`` with ``<include>`` and
  ``<group>`` elements, ``x86_vendors.xml``, ``x86_features.xml`` and one
  ``x86_<Model>.xml`` per model;
* the legacy single ``cpu_map.xml`` (libvirt 0.7.5 - 4.6) with inline
  vendors, features and models, ``<cpuid function=...>`` and
  ``<model name='Parent'/>`` inheritance.

Every feature gets one bit, numbered in feature-file order, so feature
sets are plain ``int`` bitmasks and listing the bits lowest-first gives
libvirt's output order.  Models keep map order, which is libvirt's
decode order (walked newest-first).

A map may come from anywhere (``--cpu-map``, nova.conf), so loading one
costs memory linear in its size, and its size is bounded.  The limits sit
far above any map libvirt has shipped (12.8.0: 176 x86 models, 400
features, 204 files, the largest 40 KiB; the legacy single ``cpu_map.xml``
of 4.6: about 300 KiB); a map past one is refused with one line naming
the file:

* each file at most `MAX_FILE_BYTES` (4 MiB), all of a map's files
  together at most `MAX_MAP_BYTES` (16 MiB), at most `MAX_FILES` (4,096)
  of them; only regular files are read (a FIFO, a device such as
  ``/dev/zero`` or a directory is refused before a byte is read);
* per arch at most `MAX_FEATURES` (4,096) features and `MAX_MODELS`
  (2,048) models, and at most `MAX_ARCHES` (8) arches;
* an ``<include filename=...>`` is a plain file name in the map's own
  directory (letters, digits, ``_.+-``), as in every map libvirt ships:
  ``../../etc/shadow``, ``/etc/shadow`` or a hidden file is refused (a
  symbolic link is followed, to a regular file only);
* numbers are libvirt's: unsigned 32-bit, steppings 0-15.
"""
from __future__ import annotations

from .archmap import ArchMap, CpuMap
from .files import MAX_FILE_BYTES, MAX_FILES, MAX_MAP_BYTES, MAX_SOURCE_BYTES
from .loader import MAX_ARCHES, default_cpu_map_path, embedded_cpu_map, load_cpu_map, resolve_map
from .values import (ARCH_ALIASES, MAX_FEATURES, MAX_MODELS, MAX_STEPPING, MAX_UINT, X86_REGISTERS, arch_family,
                     CpuidBit, Feature, Model, Signature, Vendor)

__all__ = ["X86_REGISTERS", "ARCH_ALIASES", "arch_family", "Signature", "CpuidBit", "Feature", "Model", "Vendor",
           "ArchMap", "CpuMap", "default_cpu_map_path", "load_cpu_map", "embedded_cpu_map", "resolve_map",
           "MAX_FILE_BYTES", "MAX_MAP_BYTES", "MAX_FILES", "MAX_FEATURES", "MAX_MODELS", "MAX_ARCHES",
           "MAX_SOURCE_BYTES", "MAX_UINT", "MAX_STEPPING"]
