"""host_traits: per class, the models its hosts can run and the domain they are in."""
import pytest

from cpucompat.engine.compare import compare
from cpucompat.engine.cpu import Cpu
from cpucompat.errors import InvalidArgument
from cpucompat.placement import host_traits
from cpucompat.placement.names import domain_trait, model_trait
from cpucompat.planner.fleet import Fleet


@pytest.fixture(scope="module")
def fleet():
    return Fleet.load("sample")


def test_every_host_gets_the_models_libvirt_lets_it_run_and_its_domain(fleet):
    traits = host_traits(fleet)
    assert list(traits) == fleet.hosts
    domains = fleet.domains()
    in_domain = {h: domain_trait(d) for d in domains for h in d.hosts}
    archmap = fleet.archmap
    for host in fleet.hosts[::5]:  # every fifth host, each checked model by model against compare
        cpu = fleet.class_of[host].cpu
        runs = {model_trait(m.name) for m in archmap.models
                if compare(Cpu(model=m.name, vendor=m.vendor), cpu, fleet.cpumap).compatible}
        assert traits[host] == runs | {in_domain[host]}


def test_no_host_gets_a_model_of_another_vendor(fleet):
    vendor_of = {model_trait(m.name): m.vendor for m in fleet.archmap.models}
    traits = host_traits(fleet)
    vendors = set()
    for host in fleet.hosts:
        vendor = fleet.class_of[host].vendor
        for trait in traits[host] - {t for t in traits[host] if "DOMAIN" in t}:
            assert vendor_of[trait] in (None, vendor), (host, trait)
            vendors.add(vendor_of[trait])
    assert {"AMD", "Intel", None} <= vendors  # the sample has both vendors' hosts


def test_every_host_of_a_domain_can_run_its_common_cpu(fleet):
    traits = host_traits(fleet)
    for domain in fleet.domains():
        trait = domain_trait(domain)
        members = {h for h, t in traits.items() if trait in t}
        assert members == set(domain.hosts)
        guest = domain.common.as_cpu()
        assert all(compare(guest, fleet.class_of[h].cpu, fleet.cpumap).compatible for h in members)


def test_given_domains_are_used_and_must_be_the_fleets(fleet):
    one = fleet.domains(max_domains=len({c.vendor for c in fleet.classes}))
    traits = host_traits(fleet, one)
    assert len({t for v in traits.values() for t in v if "DOMAIN" in t}) == len(one)
    assert all(sum("DOMAIN" in t for t in v) == 1 for v in traits.values())
    other = Fleet.load("sample")
    with pytest.raises(InvalidArgument, match="not one of this fleet's domains"):
        host_traits(fleet, other.domains())
    assert all("DOMAIN" not in t for v in host_traits(fleet, ()).values() for t in v)
