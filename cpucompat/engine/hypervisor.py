"""Can the hypervisor on a host run a guest CPU?  libvirt's
virConnectCompareHypervisorCPU for x86 (QEMU/KVM), which Nova (>= 27) asks
of the destination before a live migration.

Which rule applies is the map's release's (`Rules.hypervisor_compare`):
libvirt 9.0.0 compares with the host-model CPU of the domain capabilities
(virCPUCompareXML); from 10.9.0 on, qemuDomainCheckCPU asks QEMU first:

1. a model QEMU calls usable, with no feature other than disabled ones,
   is a superset at once;
2. a guest with no model, a model QEMU does not offer, or a model whose
   map entry has ``<check partial='compat'/>`` is compared with the
   host-model CPU, as before;
3. any other model (newer ones, without that check) is judged by QEMU
   alone (virCPUCompareUnusable): incompatible when one of the model's
   blockers is not disabled, or a required feature is not in the expanded
   host-model CPU; else a superset, never identical.
"""
from __future__ import annotations

from .comparison import INCOMPATIBLE, SUPERSET, Comparison
from .compare import compare
from .cpu import Cpu, HypervisorModels, cpu_bits, resolve_arch
from .cpumap import CpuMap, resolve_map
from .drivers import is_x86
from .maps import map_rules
from .rules import Fallback, Policy

__all__ = ["compare_hypervisor"]


def compare_hypervisor(guest: Cpu, host_model: Cpu, models: HypervisorModels | None,
                       cpumap: CpuMap | None = None) -> Comparison:
    """Can the hypervisor whose host-model CPU is `host_model` and whose CPU
    models are `models` (None: unknown) run `guest`, as the libvirt of the
    map answers?  Unknown model or feature names raise, as in `compare`."""
    cpumap = resolve_map(cpumap)
    # qemuDomainCheckCPU is x86's (other arches: s390's QEMU comparison, or unsupported)
    if map_rules(cpumap).hypervisor_compare == "host-model" or not is_x86(host_model.arch):
        return compare(guest, host_model, cpumap)
    model = guest.model
    # qemuDomainCheckCPU step 1: virQEMUCapsIsCPUUsable
    if (model is not None and models is not None and models.usable(model)
            and all(policy == Policy.DISABLE for _, policy in guest.features)):
        return Comparison(SUPERSET, reason=f"QEMU calls {model} usable on this host")
    blockers = models.blockers_of(model) if models is not None and model is not None else None
    if blockers is None or host_model.fallback != Fallback.FORBID or _checks_compat(guest, cpumap):
        return compare(guest, host_model, cpumap)  # step 2
    return _compare_unusable(guest, host_model, blockers, cpumap)  # step 3


def _checks_compat(guest: Cpu, cpumap: CpuMap) -> bool:
    """virCPUx86GetCheckMode: the map's ``<check partial='compat'/>``."""
    assert guest.model is not None
    return resolve_arch(cpumap, guest).model(guest.model, source=guest.source).check_partial_compat


def _compare_unusable(guest: Cpu, host_model: Cpu, blockers: tuple[str, ...], cpumap: CpuMap) -> Comparison:
    """virCPUCompareUnusable: the model's own features are QEMU's business;
    only its blockers and the guest's required features count."""
    archmap = resolve_arch(cpumap, guest)
    # a host CPU given as the guest (<arch> present) has features without a
    # policy in libvirt (-1): none of them disables a blocker or is required
    policies = {} if guest.is_host else dict(guest.features)
    # QEMU's spelling to libvirt's; a name the map lacks cannot be disabled
    named = [archmap.canonical_feature(blocker) or blocker for blocker in blockers]
    missing = [name for name in named if policies.get(name) != Policy.DISABLE]
    # virCPUExpandFeatures of the host-model CPU: model + required - disabled
    host = cpu_bits(host_model, resolve_arch(cpumap, host_model))
    provided = (host.model | host.require) & ~host.disable
    missing += [name for name, policy in policies.items()
                if policy == Policy.REQUIRE and not provided & archmap.feature(name, source=guest.source).mask]
    if missing:
        shown = list(dict.fromkeys(missing))
        return Comparison(INCOMPATIBLE, missing=tuple(shown),
                          reason=f"Host CPU does not provide required features: {', '.join(shown)}")
    return Comparison(SUPERSET, reason=f"QEMU can run {guest.model} with its blockers disabled")
