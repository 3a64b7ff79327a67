"""The engine: libvirt's CPU rules on values.

* ``rules``: libvirt's vocabulary (modes, match, check, policies,
  fallback, compare results) as StrEnums, written once;
* ``cpumap/``: the map (values, `ArchMap`/`CpuMap` with their caches,
  bounded file reading, the builder, the loader, `resolve_map`);
* ``names``: every spelling of a feature; ``cpu``: `Cpu`, `Expansion`,
  their bitmasks; ``cpuxml``: the one XML writer;
* ``drivers``: a driver per arch family (``x86``: libvirt's cpu_x86.c
  rules on feature bits; arm/ppc64/s390 by model name), asked by
  ``compare`` (a `comparison.Comparison`), ``baseline`` and ``decode``
  (model choice, host-model); ``cpuid``: raw CPUID dumps;
* ``graph``: the model graph; ``levels``: x86-64 psABI levels.

Imports only the ground floor (`cpucompat.errors`, `.xmlsafe`, `.safefile`,
`.display`, `.packagedata`).
"""
