"""The best CPU every input can run, and a CPU's full feature list:
libvirt's virCPUx86Baseline as the QEMU driver answers it
(``virConnectBaselineCPU``, what ``virsh cpu-baseline`` answers on a KVM host).
"""
from __future__ import annotations

from typing import Sequence

from .cpu import Cpu, Expansion, cpu_bits
from .cpumap import CpuMap, resolve_map
from .decode import choose_model, expansion_of
from .drivers import feature_map
from .maps import qemu_filtered
from .rules import Fallback, Mode
from ..errors import IncompatibleCpus, IncompatibleVendors, InvalidCpuXml, NoSuitableModel

__all__ = ["baseline", "expand"]


def baseline(cpus: Sequence[Cpu], cpumap: CpuMap | None = None, *,
             migratable: bool = False) -> Expansion:
    """The best CPU every input can run: libvirt's virCPUx86Baseline as the
    QEMU driver answers it (the features the map's libvirt filters dropped).

    Raises IncompatibleVendors for mixed vendors and IncompatibleCpus when
    nothing is common.
    """
    cpumap = resolve_map(cpumap)
    return cpumap.cached(_baseline, 4096)(tuple(cpus), cpumap, migratable)


def _baseline(cpus: tuple[Cpu, ...], cpumap: CpuMap, migratable: bool) -> Expansion:
    if not cpus:
        raise IncompatibleCpus("no CPUs to baseline")
    model_names: list[str] = []
    for i, cpu in enumerate(cpus):
        if cpu.model is None:
            raise InvalidCpuXml(f"no CPU model specified at index {i}", source=cpu.source)
        model_names.append(cpu.model)
    archmap = feature_map(cpumap, cpus, "baseline")
    first = cpus[0]
    output_vendor = first.vendor is not None
    vendor = None
    if first.vendor is not None:
        if first.vendor not in archmap.vendors:
            raise IncompatibleVendors(f"unknown CPU vendor {first.vendor}", source=first.source)
        vendor = first.vendor
    names = tuple(dict.fromkeys(model_names))  # distinct, in input order
    base = cpu_bits(first, archmap).full
    models = archmap.model_by_name
    for cpu, name in zip(cpus[1:], model_names[1:]):
        model = models.get(name) or archmap.model(name, source=cpu.source)
        if cpu.vendor and model.vendor and cpu.vendor != model.vendor:
            raise IncompatibleVendors(f"CPU vendor {model.vendor} of model {model.name} differs "
                                      f"from vendor {cpu.vendor}", source=cpu.source)
        named: str | None
        if cpu.vendor:
            named = cpu.vendor
        else:
            output_vendor = False
            named = model.vendor
        if named:
            if vendor is None:
                if named not in archmap.vendors:
                    raise IncompatibleVendors(f"unknown CPU vendor {named}", source=cpu.source)
                vendor = named
            elif vendor != named:
                raise IncompatibleVendors(f"CPU vendors do not match: {vendor} and {named}",
                                          source=cpu.source)
        base &= cpu_bits(cpu, archmap).full
    if not base:
        raise IncompatibleCpus("CPUs are incompatible: they have no feature in common",
                               source=_inputs(cpus))
    try:
        chosen = choose_model(archmap, base, vendor, 0, guest=True, preferred=names)
    except NoSuitableModel as exc:  # the inputs are named only when it fails: baseline is a hot path
        raise NoSuitableModel(str(exc), source=_inputs(cpus)) from None
    fallback = Fallback.FORBID if len(names) == 1 and chosen.model.name == names[0] else Fallback.ALLOW
    arches = {cpu.arch for cpu in cpus}
    return expansion_of(archmap, chosen, vendor if output_vendor else None,
                                     migratable=migratable, arch=arches.pop() if len(arches) == 1 else None,
                                     fallback=fallback, drop=qemu_filtered(cpumap))


def _inputs(cpus: Sequence[Cpu]) -> str | None:
    """The inputs of a baseline, named briefly for an error message."""
    sources = list(dict.fromkeys(cpu.source for cpu in cpus if cpu.source))
    if len(sources) > 3:
        return f"{', '.join(sources[:3])} and {len(sources) - 3} more"
    return ", ".join(sources) or None


def expand(cpu: Cpu, cpumap: CpuMap | None = None, *, migratable: bool = False) -> Expansion:
    """The full feature list of a CPU, as ``baselineCPU([cpu],
    EXPAND_FEATURES[|MIGRATABLE])`` gives it."""
    if cpu.model is None:
        what = f"a {cpu.mode} CPU" if cpu.mode != Mode.CUSTOM else "a CPU without a model"
        raise InvalidCpuXml(f"cannot expand {what}: it names no model; its features are those of "
                            "the host it runs on", source=cpu.source)
    result = baseline([cpu], cpumap, migratable=migratable)  # refuses other arches
    return Expansion(cpu.arch, result.vendor if cpu.vendor else None, result.model,
                     result.features, result.disabled, result.expanded, result.fallback,
                     cpu.signature)
