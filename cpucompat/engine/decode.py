"""Which model libvirt names for a set of features: x86Decode on values.

`decode` reads raw CPUID data (a host CPU, or with ``guest=True`` the
host-model guest CPU), `decode_features` a feature bitmask (from
/proc/cpuinfo, say), `host_model` a host CPU definition.  Each follows
libvirt's src/cpu/cpu_x86.c step by step on integer bitmasks.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from .cpu import Cpu, Expansion, HypervisorModels, cpu_bits
from .cpuid import CpuidDump, DecodedData, decode_data, signature_parts, signature_value
from .cpumap import ArchMap, CpuMap, Model, resolve_map
from .drivers import feature_map
from .maps import qemu_filtered
from .releases import QEMU_FILTERED_ANY
from .rules import Fallback
from ..errors import NoSuitableModel

__all__ = ["QEMU_FILTERED", "decode", "decode_features", "host_model", "choose_model", "expansion_of"]

# Every name some release's QEMU driver drops (virQEMUCapsCPUFilterFeatures);
# which ones a given map's libvirt drops is rules.Rules.qemu_filtered.
QEMU_FILTERED = QEMU_FILTERED_ANY


class Candidate(NamedTuple):  # a tuple: the decode walk makes many
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


def _candidate(model: Model, data: int, guest: bool, blockers: int = 0) -> Candidate:
    required = data & ~model.features
    # the hypervisor's blockers of the model the data lacks are disabled too
    # (x86DataToCPU: a blocker not within data − model joins the disabled set)
    disabled = (model.features & ~data) | (blockers & ~required)
    if guest:
        disabled |= model.removed & ~required & ~disabled
    score, penalty = _score(required.bit_count(), disabled.bit_count(), guest)
    return Candidate(model, required, disabled, score, penalty)


def _eligible(model: Model, vendor: str | None, guest: bool, allowed: dict[str, int] | None) -> bool:
    if allowed is not None and model.name not in allowed:
        return False
    if vendor and model.vendor and vendor != model.vendor:
        return False
    return model.decode_guest if guest else model.decode_host


def choose_model(archmap: ArchMap, data: int, vendor: str | None, signature: int, *,
                 guest: bool, preferred: Sequence[str] = (),
                 allowed: dict[str, int] | None = None, source: str | None = None) -> Candidate:
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
    current: Candidate | None = None
    for model in reversed(archmap.models):
        disabled = model.features & ~data
        if not guest and disabled:
            continue  # a host CPU's model must be a subset of the host (most models: test it first)
        if not _eligible(model, vendor, guest, allowed):
            continue
        required = data & ~model.features
        if allowed is not None:
            disabled |= allowed[model.name] & ~required  # as in _candidate
            if not guest and disabled:
                continue
        if guest:
            disabled |= model.removed & ~required & ~disabled
        score, penalty = _score(required.bit_count(), disabled.bit_count(), guest)
        if current is None:
            current = Candidate(model, required, disabled, score, penalty)
            continue
        if signature:
            current_matches = current.model.signature_matches(family, model_no, stepping)
            candidate_matches = model.signature_matches(family, model_no, stepping)
            if current_matches and not candidate_matches:
                continue
            if candidate_matches and not current_matches:
                current = Candidate(model, required, disabled, score, penalty)
                continue
        if (score < current.score
                or (score == current.score and penalty < current.penalty)
                or (model.name in preferred and penalty < current.penalty)):
            current = Candidate(model, required, disabled, score, penalty)
    if current is None:
        offered = "" if allowed is None else f" among the {len(allowed)} models the hypervisor offers"
        raise NoSuitableModel(f"cannot find suitable CPU model for given data in cpu_map {archmap.source}"
                              + offered, source=source)
    return current


def expansion_of(archmap: ArchMap, chosen: Candidate, vendor: str | None,
                              *, migratable: bool, arch: str | None,
                              signature: tuple[int, int, int] | None = None,
                              fallback: str = Fallback.ALLOW, drop: frozenset[str] = frozenset()) -> Expansion:
    dropped = archmap.cached(_known_mask, 64)(archmap, drop)
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
    archmap = resolve_map(cpumap).x86
    data = decode_data(dump, archmap)
    allowed = archmap.cached(_blocker_masks, 64)(archmap, models) if models is not None else None
    return _decode_data(archmap, data, guest=guest, migratable=migratable, allowed=allowed,
                        source=dump.source)


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
    chosen = choose_model(archmap, data.features, data.vendor, data.signature,
                          guest=guest, allowed=allowed, source=source)
    sig = signature_parts(data.signature) if data.signature else None
    # libvirt decodes host-model as a guest CPU with fallback forbid
    # (virQEMUCapsInitHostCPUModel, cputest's -guest.xml expectations)
    return expansion_of(archmap, chosen, data.vendor, migratable=migratable, arch="x86_64", signature=sig,
                        fallback=Fallback.FORBID if guest else Fallback.ALLOW)


def decode_features(bits: int, vendor: str | None, signature: tuple[int, int, int] | None,
                    cpumap: CpuMap | None = None, *, guest: bool = False,
                    source: str | None = None) -> Expansion:
    """Decode an x86 feature bitmask (from /proc/cpuinfo, say) like CPUID;
    `source` names the input in errors."""
    archmap = resolve_map(cpumap).x86
    raw = signature_value(*signature) if signature else 0
    return _decode_data(archmap, DecodedData(vendor, raw, bits), guest=guest, migratable=False,
                        source=source)


def host_model(host: Cpu, cpumap: CpuMap | None = None, *, migratable: bool = True) -> Expansion:
    """The host-model guest CPU of a host CPU definition.

    The host's full feature set is decoded as a guest CPU (libvirt's
    virQEMUCapsInitHostCPUModel without QEMU's blockers), keeping only
    migratable features unless told otherwise.
    """
    cpumap = resolve_map(cpumap)
    return cpumap.cached(_host_model, 16384)(host, cpumap, migratable)


def _host_model(host: Cpu, cpumap: CpuMap, migratable: bool) -> Expansion:
    archmap = feature_map(cpumap, (host,), "compute the host-model CPU of")
    bits = cpu_bits(host, archmap).full
    signature = 0
    if host.signature:
        family, model, stepping = host.signature
        signature = signature_value(family, model, stepping)
    chosen = choose_model(archmap, bits, host.vendor, signature, guest=True, source=host.source)
    # QEMU's host-model never carries what the QEMU driver filters (CR4 mirrors, RDT monitoring, ...)
    return expansion_of(archmap, chosen, host.vendor, migratable=migratable, arch="x86_64",
                        signature=host.signature, fallback=Fallback.FORBID, drop=qemu_filtered(cpumap))
