"""Which ``CUSTOM_CPUCOMPAT_*`` traits each host of a fleet gets.

Computed per CPU class, never per host: a class's model traits take one
libvirt compare per (model, class), cached by the fleet (`Fleet.runs`), and every host of a
class shares one frozenset.  For F models, C classes and H hosts:
O(F·C) compares and O(H) dict steps.
"""
from __future__ import annotations

from typing import Sequence

from ..engine.cpu import Cpu
from ..errors import InvalidArgument
from ..nova.customtraits import model_guest, model_traits
from ..planner.fleet import Fleet
from ..planner.results import CpuClass, Domain
from .names import domain_trait

__all__ = ["class_model_traits", "host_traits"]


def class_model_traits(fleet: Fleet, cpu_class: CpuClass) -> frozenset[str]:
    """The model traits of every custom model of the fleet's map the
    class's hosts can run (with the model's own vendor), as libvirt's
    compare decides it."""
    return frozenset(trait for trait, guest in _model_guests(fleet).items()
                     if fleet.runs(guest, cpu_class.index).compatible)


def _model_guests(fleet: Fleet) -> dict[str, Cpu]:
    """Each model trait of the fleet's map → the custom guest CPU it stands for."""
    archmap = fleet.archmap
    return {trait: model_guest(archmap, name) for name, trait in model_traits(archmap).items()}


def host_traits(fleet: Fleet, domains: Sequence[Domain] | None = None) -> dict[str, frozenset[str]]:
    """Every readable host of `fleet` → its ``CUSTOM_CPUCOMPAT_*`` traits: the
    model traits of its class and the trait of the domain it is in.

    `domains` defaults to ``fleet.domains()`` (what ``cpucompat domains``
    answers without options); they must be this fleet's.  Hosts of the
    fleet in none of them get model traits only.  Sorted by host."""
    if domains is None:
        domains = fleet.domains()
    by_class = {cls.index: class_model_traits(fleet, cls) for cls in fleet.classes}
    # one frozenset per (class, domain), shared by its hosts
    shared: dict[tuple[int, str], frozenset[str]] = {}
    traits: dict[str, frozenset[str]] = {}
    for domain in domains:
        trait = domain_trait(domain)
        for member in domain.classes:
            index = member.cpu_class.index
            if index >= len(fleet.classes) or fleet.classes[index] is not member.cpu_class:
                raise InvalidArgument(f"domain {domain.name} is not one of this fleet's domains")
            key = (index, trait)
            if key not in shared:
                shared[key] = by_class[index] | {trait}
            traits.update(dict.fromkeys(member.hosts, shared[key]))
    return {host: traits.get(host) or by_class[fleet.class_of[host].index] for host in fleet.hosts}
