"""libvirt's x86 CPU driver rules on values: compare, baseline, decode,
host-model and expansion.

Each function follows the libvirt function named in its docstring
(src/cpu/cpu_x86.c) step by step, but on integer bitmasks, and returns a
result value that carries its explanation.  `baseline` and `expand`
answer as the QEMU driver's ``virConnectBaselineCPU`` does, which is what
``virsh cpu-baseline`` answers on a KVM host.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from .cpu import Cpu, HypervisorModels, cpu_bits, is_x86, resolve_arch
from .cpuid import CpuidDump, DecodedData, decode_data, signature_parts
from .cpumap import ArchMap, CpuMap, Model, embedded_cpu_map
from ..errors import IncompatibleCpus, IncompatibleVendors, InvalidCpuXml, NoSuitableModel, UnknownArch

IDENTICAL = "identical"
SUPERSET = "superset"
INCOMPATIBLE = "incompatible"

# The QEMU driver drops these from baselines (virQEMUCapsCPUFilterFeatures):
# osxsave/ospke mirror CR4, cmt/mbm_* are RDT monitoring QEMU never had, the
# vmx ones (libvirt >= 10) are not real controls.
QEMU_FILTERED = frozenset({"cmt", "mbm_total", "mbm_local", "osxsave", "ospke",
                           "vmx-ept-uc", "vmx-ept-wb", "vmx-invvpid-single-context"})


@dataclass(frozen=True, slots=True)
class Comparison:
    """libvirt's virCPUCompareResult plus why."""

    result: str  # identical | superset | incompatible
    missing: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    reason: str = ""

    @property
    def compatible(self) -> bool:
        return self.result != INCOMPATIBLE

    def to_dict(self) -> dict:
        return {"result": self.result, "missing": list(self.missing),
                "forbidden": list(self.forbidden), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Expansion:
    """A CPU as model + extra features, and its full feature list."""

    arch: str | None
    vendor: str | None
    model: str | None
    features: tuple[str, ...]  # required beyond the model (libvirt order)
    disabled: tuple[str, ...]  # model features turned off
    expanded: tuple[str, ...]  # every required feature, sorted by name
    fallback: str = "allow"
    signature: tuple[int, int, int] | None = None

    def as_cpu(self, *, host: bool = False) -> Cpu:
        """This result as a CPU definition (guest: match exact).

        A host CPU cannot disable model features, so ``host=True`` needs a
        result without disabled features (a host decode, not a baseline).
        """
        if host and self.disabled:
            raise InvalidCpuXml(f"{self.model} with disabled features "
                                f"({', '.join(self.disabled)}) cannot be written as a host CPU")
        if host:
            return Cpu(model=self.model, vendor=self.vendor, arch=self.arch or "x86_64",
                       features=tuple((n, "require") for n in self.features),
                       signature=self.signature, match=None)
        return Cpu(model=self.model, vendor=self.vendor, match="exact", fallback=self.fallback,
                   features=tuple([(n, "require") for n in self.features]
                                  + [(n, "disable") for n in self.disabled]),
                   signature=self.signature)

    def to_dict(self) -> dict:
        return {"arch": self.arch, "vendor": self.vendor, "model": self.model,
                "features": list(self.features), "disabled": list(self.disabled),
                "expanded": list(self.expanded)}


def _map(cpumap: CpuMap | None) -> CpuMap:
    return cpumap if cpumap is not None else embedded_cpu_map()


# -- compare ---------------------------------------------------------------

def compare(guest: Cpu, host: Cpu, cpumap: CpuMap | None = None) -> Comparison:
    """Can `guest` run on `host`?  libvirt's virCPUx86Compare / x86Compute.

    Unknown model or feature names raise (libvirt: VIR_CPU_COMPARE_ERROR).
    """
    return _compare_cached(guest, host, _map(cpumap))


@functools.lru_cache(maxsize=65536)
def _compare_cached(guest: Cpu, host: Cpu, cpumap: CpuMap) -> Comparison:
    if host.model is None:
        return Comparison(INCOMPATIBLE, reason="unknown host CPU (it has no model)")
    if not is_x86(host.arch):
        if guest.arch and guest.arch != host.arch:
            return Comparison(INCOMPATIBLE, reason=f"CPU arch {guest.arch} does not match host arch {host.arch}")
        return _compare_by_name(guest, host)
    if not is_x86(guest.arch):
        return Comparison(INCOMPATIBLE, reason=f"CPU arch {guest.arch} does not match host arch")
    if guest.vendor and (not host.vendor or guest.vendor != host.vendor):
        return Comparison(INCOMPATIBLE, reason=f"host CPU vendor does not match required CPU vendor {guest.vendor}")
    archmap = resolve_arch(cpumap, host)
    h = cpu_bits(host, archmap).full
    g = cpu_bits(guest, archmap)
    forbidden = g.forbid & h
    if forbidden:
        return Comparison(INCOMPATIBLE, forbidden=tuple(archmap.names(forbidden)),
                          reason="Host CPU provides forbidden features: " + ", ".join(archmap.names(forbidden)))
    required = (g.model | g.require) & ~g.force & ~g.optional & ~g.disable
    missing = required & ~h
    if missing:
        names = archmap.names(missing)
        return Comparison(INCOMPATIBLE, missing=tuple(names),
                          reason="Host CPU does not provide required features: " + ", ".join(names))
    diff = h & ~g.optional & ~required & ~g.disable & ~g.force
    if not diff:
        return Comparison(IDENTICAL, reason="host CPU provides exactly the guest CPU")
    if not guest.is_host and guest.match == "strict":
        names = archmap.names(diff)
        return Comparison(INCOMPATIBLE, reason="Host CPU does not strictly match guest CPU: Extra features: "
                          + ", ".join(names))
    return Comparison(SUPERSET, reason="host CPU provides every required feature and "
                      f"{diff.bit_count()} more")


def _compare_by_name(guest: Cpu, host: Cpu) -> Comparison:
    # Non-x86 maps describe models by PVR, not feature bits: only the same
    # model on the same arch is known to be compatible.
    if guest.model is None or guest.model == host.model:
        return Comparison(IDENTICAL, reason=f"same CPU model {host.model}")
    return Comparison(INCOMPATIBLE, reason=f"guest CPU model {guest.model} differs from host CPU model {host.model}")


# -- decode ----------------------------------------------------------------

class _Candidate(NamedTuple):  # a tuple: the decode walk makes many
    model: Model
    required: int
    disabled: int  # model − data, plus removed features for guest CPUs
    score: int
    penalty: int


def _score(n_required: int, n_disabled: int, guest: bool) -> tuple[int, int]:
    """(score, penalty) as libvirt's virCPUx86CompareCandidateFeatureList counts.

    The k-th disabled feature costs k + 2.  libvirt's loop runs while
    i < enabled and decrements `enabled` at each disabled feature (listed
    after the required ones), so it sees only ceil(d / 2) of d disabled
    features; the real libvirt answers that way, so we count the same.
    """
    if not guest:
        return n_required + n_disabled, 0
    seen = (n_disabled + 1) // 2
    penalty = 2 * seen + seen * (seen - 1) // 2
    return n_required + n_disabled - seen + penalty, penalty


def _candidate(model: Model, data: int, guest: bool, blockers: int = 0) -> _Candidate:
    required = data & ~model.features
    # the hypervisor's blockers of the model the data lacks are disabled too
    # (x86DataToCPU: a blocker not within data − model joins the disabled set)
    disabled = (model.features & ~data) | (blockers & ~required)
    if guest:
        disabled |= model.removed & ~required & ~disabled
    score, penalty = _score(required.bit_count(), disabled.bit_count(), guest)
    return _Candidate(model, required, disabled, score, penalty)


def _eligible(model: Model, vendor: str | None, guest: bool, allowed: dict[str, int] | None) -> bool:
    if allowed is not None and model.name not in allowed:
        return False
    if vendor and model.vendor and vendor != model.vendor:
        return False
    return model.decode_guest if guest else model.decode_host


def _decode_bits(archmap: ArchMap, data: int, vendor: str | None, signature: int, *,
                 guest: bool, preferred: Sequence[str] = (),
                 allowed: dict[str, int] | None = None, source: str | None = None) -> _Candidate:
    """libvirt's x86Decode model choice over a feature bitmask.

    `allowed` maps each model the hypervisor offers to the bitmask of its
    blockers; None means every model of the map, unblocked.
    """
    if len(preferred) == 1:
        # a single preferred model is taken as soon as the walk reaches it,
        # whatever came before: go straight to it when it is eligible
        model = archmap.model_by_name.get(preferred[0])
        if model is not None and _eligible(model, vendor, guest, allowed):
            candidate = _candidate(model, data, guest, allowed[model.name] if allowed is not None else 0)
            if guest or not candidate.disabled:
                return candidate
    family, model_no, stepping = signature_parts(signature)
    current: _Candidate | None = None
    for model in reversed(archmap.models):
        if not _eligible(model, vendor, guest, allowed):
            continue
        required = data & ~model.features
        disabled = model.features & ~data
        if allowed is not None:
            disabled |= allowed[model.name] & ~required  # as in _candidate
        if guest:
            disabled |= model.removed & ~required & ~disabled
        elif disabled:
            continue  # a host CPU's model must be a subset of the host
        score, penalty = _score(required.bit_count(), disabled.bit_count(), guest)
        if current is None:
            current = _Candidate(model, required, disabled, score, penalty)
            continue
        if signature:
            current_matches = current.model.signature_matches(family, model_no, stepping)
            candidate_matches = model.signature_matches(family, model_no, stepping)
            if current_matches and not candidate_matches:
                continue
            if candidate_matches and not current_matches:
                current = _Candidate(model, required, disabled, score, penalty)
                continue
        if (score < current.score
                or (score == current.score and penalty < current.penalty)
                or (model.name in preferred and penalty < current.penalty)):
            current = _Candidate(model, required, disabled, score, penalty)
    if current is None:
        offered = "" if allowed is None else f" among the {len(allowed)} models the hypervisor offers"
        raise NoSuitableModel(f"cannot find suitable CPU model for given data in cpu_map {archmap.source}"
                              + offered, source=source)
    return current


def _expansion_from_candidate(archmap: ArchMap, chosen: _Candidate, vendor: str | None,
                              *, migratable: bool, arch: str | None,
                              signature: tuple[int, int, int] | None = None,
                              fallback: str = "allow", drop: frozenset[str] = frozenset()) -> Expansion:
    dropped = _known_mask(archmap, drop)
    required, disabled = chosen.required & ~dropped, chosen.disabled & ~dropped
    if migratable:
        required &= ~archmap.non_migratable
        disabled &= ~archmap.non_migratable
    features = tuple(archmap.names(required))
    disabled_names = tuple(archmap.names(disabled))
    full = (chosen.model.features | required) & ~disabled & ~dropped
    expanded = tuple(archmap.sorted_names(full))
    return Expansion(arch, vendor, chosen.model.name, features, disabled_names, expanded,
                     fallback, signature)


@functools.lru_cache(maxsize=64)
def _known_mask(archmap: ArchMap, names: frozenset[str]) -> int:
    return archmap.known_mask(names)


def decode(dump: CpuidDump, cpumap: CpuMap | None = None, *, guest: bool = False,
           migratable: bool = False, models: HypervisorModels | None = None) -> Expansion:
    """The CPU libvirt reports for raw CPUID data.

    ``guest=False`` gives the host CPU of ``virsh capabilities``
    (model ⊆ data, fewest extra features); ``guest=True`` the host-model
    guest CPU (disabled features allowed, with libvirt's penalty;
    ``fallback='forbid'``).  ``models`` is the hypervisor's model list
    (QEMU's ``query-cpu-definitions``, `qmp.read_qemu_models`): only those
    models are candidates, each with its blockers disabled where the data
    lacks them, as libvirt's QEMU driver decodes host-model.
    """
    archmap = _map(cpumap).x86
    data = decode_data(dump, archmap)
    allowed = _blocker_masks(archmap, models) if models is not None else None
    return _decode_data(archmap, data, guest=guest, migratable=migratable, allowed=allowed,
                        source=dump.source)


@functools.lru_cache(maxsize=64)
def _blocker_masks(archmap: ArchMap, models: HypervisorModels) -> dict[str, int]:
    """Each offered model → bitmask of its blockers in libvirt's spelling.

    QEMU spells features its own way (``lahf-lm``, ``pclmulqdq``); blockers
    the map does not know (QEMU-only properties) cannot be disabled, as in
    libvirt (x86FeatureGet finds nothing).
    """
    masks = {}
    for name, blockers in models.blockers:
        mask = 0
        for blocker in blockers:
            canonical = archmap.canonical_feature(blocker)
            if canonical is not None:
                mask |= archmap.mask_by_name[canonical]
        masks[name] = mask
    return masks


def _decode_data(archmap: ArchMap, data: DecodedData, *, guest: bool, migratable: bool,
                 allowed: dict[str, int] | None = None, source: str | None = None) -> Expansion:
    chosen = _decode_bits(archmap, data.features, data.vendor, data.signature,
                          guest=guest, allowed=allowed, source=source)
    sig = signature_parts(data.signature) if data.signature else None
    # libvirt decodes host-model as a guest CPU with fallback forbid
    # (virQEMUCapsInitHostCPUModel, cputest's -guest.xml expectations)
    return _expansion_from_candidate(archmap, chosen, data.vendor, migratable=migratable,
                                     arch="x86_64", signature=sig, fallback="forbid" if guest else "allow")


def decode_features(bits: int, vendor: str | None, signature: tuple[int, int, int] | None,
                    cpumap: CpuMap | None = None, *, guest: bool = False,
                    source: str | None = None) -> Expansion:
    """Decode an x86 feature bitmask (from /proc/cpuinfo, say) like CPUID;
    `source` names the input in errors."""
    archmap = _map(cpumap).x86
    raw = _make_signature(*signature) if signature else 0
    return _decode_data(archmap, DecodedData(vendor, raw, bits), guest=guest, migratable=False,
                        source=source)


def host_model(host: Cpu, cpumap: CpuMap | None = None, *, migratable: bool = True) -> Expansion:
    """The host-model guest CPU of a host CPU definition.

    The host's full feature set is decoded as a guest CPU (libvirt's
    virQEMUCapsInitHostCPUModel without QEMU's blockers), keeping only
    migratable features unless told otherwise.
    """
    return _host_model_cached(host, _map(cpumap), migratable)


@functools.lru_cache(maxsize=16384)
def _host_model_cached(host: Cpu, cpumap: CpuMap, migratable: bool) -> Expansion:
    archmap = _x86_only(cpumap, (host,), "compute the host-model CPU of")
    bits = cpu_bits(host, archmap).full
    signature = 0
    if host.signature:
        family, model, stepping = host.signature
        signature = _make_signature(family, model, stepping)
    chosen = _decode_bits(archmap, bits, host.vendor, signature, guest=True, source=host.source)
    # QEMU's host-model never carries the CR4 mirrors and RDT monitoring bits
    return _expansion_from_candidate(archmap, chosen, host.vendor, migratable=migratable, arch="x86_64",
                                     signature=host.signature, fallback="forbid", drop=QEMU_FILTERED)


def _x86_only(cpumap: CpuMap, cpus: Sequence[Cpu], operation: str) -> ArchMap:
    """The map's x86 arch, refusing CPUs of any other arch by name.

    libvirt's other CPU drivers answer without checking anything cpucompat
    could check: on an x86 host, baselineCPU of aarch64 CPUs returns the
    first CPU's model name, even one no map defines; ppc64 needs identical
    models; s390x has no baseline.  cpucompat follows the x86 driver only,
    so it says so rather than echo a name.
    """
    for cpu in cpus:
        if not is_x86(cpu.arch):
            raise UnknownArch(f"cannot {operation} a CPU of arch {cpu.arch}: cpucompat decides "
                              "only x86 CPUs (libvirt's x86 CPU driver)", source=cpu.source)
    return cpumap.x86


def _make_signature(family: int, model: int, stepping: int) -> int:
    sig = 0
    if family > 0xF:
        sig |= (family - 0xF) << 20
        family = 0xF
    sig |= (model >> 4) << 16
    sig |= family << 8
    sig |= (model & 0xF) << 4
    return sig | (stepping & 0xF)


# -- baseline --------------------------------------------------------------

def baseline(cpus: Sequence[Cpu], cpumap: CpuMap | None = None, *,
             migratable: bool = False) -> Expansion:
    """The best CPU every input can run: libvirt's virCPUx86Baseline as the
    QEMU driver answers it (QEMU_FILTERED features dropped).

    Raises IncompatibleVendors for mixed vendors and IncompatibleCpus when
    nothing is common.
    """
    return _baseline_cached(tuple(cpus), _map(cpumap), migratable)


@functools.lru_cache(maxsize=4096)
def _baseline_cached(cpus: tuple[Cpu, ...], cpumap: CpuMap, migratable: bool) -> Expansion:
    if not cpus:
        raise IncompatibleCpus("no CPUs to baseline")
    for i, cpu in enumerate(cpus):
        if cpu.model is None:
            raise InvalidCpuXml(f"no CPU model specified at index {i}", source=cpu.source)
    archmap = _x86_only(cpumap, cpus, "baseline")
    first = cpus[0]
    output_vendor = first.vendor is not None
    vendor = None
    if first.vendor is not None:
        if first.vendor not in archmap.vendors:
            raise IncompatibleVendors(f"unknown CPU vendor {first.vendor}", source=first.source)
        vendor = first.vendor
    names = tuple(dict.fromkeys(cpu.model for cpu in cpus))  # distinct, in input order
    base = cpu_bits(first, archmap).full
    models = archmap.model_by_name
    for cpu in cpus[1:]:
        model = models.get(cpu.model) or archmap.model(cpu.model, source=cpu.source)
        if cpu.vendor and model.vendor and cpu.vendor != model.vendor:
            raise IncompatibleVendors(f"CPU vendor {model.vendor} of model {model.name} differs "
                                      f"from vendor {cpu.vendor}", source=cpu.source)
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
        chosen = _decode_bits(archmap, base, vendor, 0, guest=True, preferred=names)
    except NoSuitableModel as exc:  # the inputs are named only when it fails: baseline is a hot path
        raise NoSuitableModel(str(exc), source=_inputs(cpus)) from None
    fallback = "forbid" if len(names) == 1 and chosen.model.name == names[0] else "allow"
    arches = {cpu.arch for cpu in cpus}
    return _expansion_from_candidate(archmap, chosen, vendor if output_vendor else None,
                                     migratable=migratable, arch=arches.pop() if len(arches) == 1 else None,
                                     fallback=fallback, drop=QEMU_FILTERED)


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
        what = f"a {cpu.mode} CPU" if cpu.mode != "custom" else "a CPU without a model"
        raise InvalidCpuXml(f"cannot expand {what}: it names no model; its features are those of "
                            "the host it runs on", source=cpu.source)
    result = baseline([cpu], cpumap, migratable=migratable)  # refuses other arches
    return Expansion(cpu.arch, result.vendor if cpu.vendor else None, result.model,
                     result.features, result.disabled, result.expanded, result.fallback,
                     cpu.signature)


def features_of(cpu: Cpu, cpumap: CpuMap | None = None) -> int:
    """Bitmask of everything `cpu` provides (model + required − disabled)."""
    archmap = resolve_arch(_map(cpumap), cpu)
    return cpu_bits(cpu, archmap).full
