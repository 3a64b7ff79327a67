"""Flavor extra specs and compute configuration that keep guests on the
hosts of one migration domain, or of one CPU model: VMware's EVC, built
from Nova's own parts.

For a domain: its trait, required (Placement returns only its hosts), the
``cpucompat:cpu_model`` / ``cpucompat:cpu_flags`` specs of its common CPU
(the filter checks the CPU itself), and the ``[libvirt]`` options its
computes need so every guest gets that common CPU (``cpu_mode = custom``,
the common model and its extra flags) and can live-migrate anywhere in
the domain.  For a model: its trait, required.  Either may add the
``HW_CPU_X86_*`` traits Nova itself reports for the model's features
(`cpucompat.nova.traits.required_traits`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..engine.cpu import Cpu, Expansion
from ..engine.cpumap import CpuMap
from ..errors import InvalidArgument
from ..nova.customtraits import model_guest
from ..nova.specs import MAX_SPEC, SPEC_FLAGS, SPEC_MODEL
from ..nova.traits import NOVA_REPORTED_TRAITS, required_traits
from ..planner.fleet import Fleet
from ..planner.results import Domain
from .names import domain_trait, model_trait

__all__ = ["FlavorSpecs", "domain_specs", "find_domain", "model_specs"]


@dataclass(frozen=True)
class FlavorSpecs:
    """What to put on a flavor (`extra_specs`) and, for a domain, in its
    computes' nova.conf (`compute`: ``[libvirt]`` options)."""

    target: str  # "domain D1" or "model Haswell"
    trait: str
    hosts: tuple[str, ...]  # the inventory's hosts Placement returns for the trait
    extra_specs: dict[str, str]
    compute: dict[str, str]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "trait": self.trait, "hosts": list(self.hosts),
                "extra_specs": dict(self.extra_specs), "compute": dict(self.compute), "notes": list(self.notes)}


def _hw_traits(model: str, disabled: Sequence[str], cpumap: CpuMap) -> dict[str, str]:
    """``trait:HW_CPU_X86_*=required`` for the features of `model` the
    guest keeps, those Nova reports: its driver matches required traits
    against the model, so only the model's own features are safe to
    require, and a trait Nova never reports would find no host."""
    cpu = Cpu(model=model, features=tuple((name, "disable") for name in disabled))
    return {f"trait:{t}": "required" for t in sorted(required_traits(cpu, cpumap) & NOVA_REPORTED_TRAITS)}


def _flags(common: Expansion) -> str:
    """The common CPU's extra flags in Nova's syntax (``+pcid,-hle``)."""
    return ",".join([f"+{n}" for n in common.features] + [f"-{n}" for n in common.disabled])


def domain_specs(domain: Domain, cpumap: CpuMap, *, hw_traits: bool = False) -> FlavorSpecs:
    """A domain's flavor extra specs and its computes' ``[libvirt]`` options."""
    common = domain.common
    if common.model is None:
        raise InvalidArgument(f"domain {domain.name} has no common CPU model")
    trait = domain_trait(domain)
    specs = {f"trait:{trait}": "required", SPEC_MODEL: common.model}
    flags = _flags(common)
    notes = []
    if len(flags) > MAX_SPEC:
        notes.append(f"{SPEC_FLAGS} left out: its {len(flags)} characters are more than the {MAX_SPEC} Nova "
                     "stores; the filter checks the model alone, Placement the domain")
    elif flags:
        specs[SPEC_FLAGS] = flags
    if hw_traits:
        specs.update(_hw_traits(common.model, common.disabled, cpumap))
    compute = {"cpu_mode": "custom", "cpu_models": common.model,
               "cpu_model_extra_flags": ", ".join(flags.split(",")) if flags else ""}
    return FlavorSpecs(f"domain {domain.name}", trait, domain.hosts, specs, compute, tuple(notes))


def model_specs(fleet: Fleet, model: str, *, hw_traits: bool = False) -> FlavorSpecs:
    """A flavor's extra specs for hosts that can run the custom `model`."""
    name = fleet.archmap.model(model, source="--model").name
    hosts, _ = fleet.domain(model_guest(fleet.archmap, name))
    specs = {f"trait:{model_trait(name)}": "required"}
    if hw_traits:
        specs.update(_hw_traits(name, (), fleet.cpumap))
    return FlavorSpecs(f"model {name}", model_trait(name), hosts, specs, {})


def find_domain(domains: Sequence[Domain], name: str) -> Domain:
    """The domain called `name` (D1, D2, as ``cpucompat domains`` numbers
    them) or whose trait is `name`."""
    for domain in domains:
        if name in (domain.name, domain_trait(domain)):
            return domain
    known = ", ".join(f"{d.name} ({domain_trait(d)})" for d in domains)
    raise InvalidArgument(f"no domain {name}; the fleet's are {known}", source="--domain")
