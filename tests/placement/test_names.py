"""Trait names: valid Placement names, stable, one per model of every embedded map."""
import re

import pytest

from cpucompat.engine.cpu import Expansion
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.errors import InvalidCpuMap
from cpucompat.nova import customtraits
from cpucompat.placement.names import (MAX_TRAIT, TRAIT_PREFIX, domain_trait, is_cpucompat_trait, model_trait,
                                       model_traits, trait_models)
from cpucompat.planner.fleet import Fleet

VALID = re.compile(r"CUSTOM_[A-Z0-9_]+")  # Placement's rule for custom traits


@pytest.mark.parametrize("version", ["9.0.0", "11.3.0", "12.8.0"])
def test_every_model_of_every_embedded_map_gets_its_own_valid_trait(version):
    archmap = resolve_map_spec(version).x86
    table = model_traits(archmap)
    assert set(table) == {m.name for m in archmap.models}
    assert len(set(table.values())) == len(table)  # no two models share a trait
    for trait in table.values():
        assert VALID.fullmatch(trait) and len(trait) <= MAX_TRAIT and is_cpucompat_trait(trait)
    assert {trait: name for name, trait in table.items()} == dict(trait_models(archmap))


def test_model_names_map_deterministically():
    assert model_trait("Skylake-Server-noTSX-IBRS") == "CUSTOM_CPUCOMPAT_MODEL_SKYLAKE_SERVER_NOTSX_IBRS"
    assert model_trait("Opteron_G5") == "CUSTOM_CPUCOMPAT_MODEL_OPTERON_G5"
    assert model_trait("x.y") == "CUSTOM_CPUCOMPAT_MODEL_X_Y"
    # a letter another script upper-cases to ASCII ('ı' → 'I') is not one
    assert model_trait("\u0131") == "CUSTOM_CPUCOMPAT_MODEL__"


def test_a_long_model_name_is_cut_with_a_digest_of_the_exact_name():
    a, b = "m" * 300 + "a", "m" * 300 + "b"
    assert len(model_trait(a)) == MAX_TRAIT and VALID.fullmatch(model_trait(a))
    assert model_trait(a) != model_trait(b)


class _Models:
    """An ArchMap's models and caches, with names that collide as traits."""

    def __init__(self, names):
        real = resolve_map_spec("9.0.0").x86
        self.source = "test map"
        self.models = [real.models[0].__class__(name=n, arch="x86", index=i, features=0)
                       for i, n in enumerate(names)]
        self.caches = {}

    def cached(self, function, maxsize):
        return function


def test_models_colliding_as_traits_are_refused_naming_both():
    with pytest.raises(InvalidCpuMap, match="Opteron-G5 and Opteron_G5 .*CUSTOM_CPUCOMPAT_MODEL_OPTERON_G5"):
        customtraits.model_traits(_Models(["Opteron-G5", "Opteron_G5"]))


def _expansion(vendor="Intel", model="Haswell", expanded=("avx", "sse")):
    return Expansion("x86", vendor, model, (), (), tuple(expanded))


def test_domain_trait_follows_the_common_cpu_not_its_order_or_name():
    trait = domain_trait(_expansion())
    assert trait.startswith(TRAIT_PREFIX + "DOMAIN_HASWELL_") and VALID.fullmatch(trait)
    assert domain_trait(_expansion(expanded=("sse", "avx"))) == trait
    assert domain_trait(_expansion(expanded=("avx",))) != trait
    assert domain_trait(_expansion(vendor="AMD")) != trait
    assert domain_trait(_expansion(model="Haswell-noTSX")) != trait


def test_domain_traits_of_a_fleet_stay_when_its_domains_are_renumbered():
    fleet = Fleet.load("sample")
    domains = fleet.domains()
    traits = {domain_trait(d) for d in domains}
    assert len(traits) == len(domains)
    # the same hosts listed in another order: the same traits
    reordered = Fleet({h: fleet.class_of[h].cpu for h in reversed(fleet.hosts)}, fleet.cpumap)
    assert {domain_trait(d) for d in reordered.domains()} == traits
    assert all(domain_trait(d) == domain_trait(d.common) for d in domains)
