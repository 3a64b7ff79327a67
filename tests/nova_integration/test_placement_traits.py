"""CpuCompatFilter inside real Nova reads cpucompat's traits from real
RequestSpecs (flavor ``trait:``/``trait<group>:``, image ``trait:``
properties) and passes exactly the hosts Placement has them on
(`cpucompat.placement.host_traits` over the same hosts)."""
from __future__ import annotations

import json
import uuid

import pytest

nova_conf = pytest.importorskip("nova.conf", reason="Nova is not installed: pip install '.[nova]' to run "
                                                    "the filter inside real Nova")
from nova import objects  # noqa: E402
from nova.scheduler import host_manager  # noqa: E402

from cpucompat.placement import host_traits  # noqa: E402
from cpucompat.placement.flavorspecs import domain_specs  # noqa: E402
from cpucompat.placement.names import model_trait  # noqa: E402
from cpucompat.planner.fleet import Fleet  # noqa: E402
from cpucompat.planner.inventory import sample_path  # noqa: E402

objects.register_all()
SAMPLE = json.loads(sample_path().read_text())["hosts"]


def _hosts():
    found = []
    for name, cpu_info in SAMPLE.items():
        host = host_manager.HostState(name, name, None)
        host.cpu_info = json.dumps(cpu_info)
        found.append(host)
    return found


def _boot(extra_specs=None, image_properties=None):
    return objects.RequestSpec(
        instance_uuid=str(uuid.uuid4()), scheduler_hints={}, ignore_hosts=[],
        image=objects.ImageMeta.from_dict({"properties": image_properties or {}}),
        flavor=objects.Flavor(vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0, swap=0,
                              extra_specs=extra_specs or {}))


def _passing(cpu_filter, request):
    return {h.host for h in cpu_filter.filter_all(_hosts(), request)}


@pytest.mark.parametrize("model", ["Icelake-Server", "Skylake-Server", "Haswell-noTSX", "EPYC-Rome", "EPYC"])
def test_a_model_trait_passes_the_hosts_placement_returns_for_it(cpu_filter, model):
    traits = host_traits(Fleet.load("sample"))
    trait = model_trait(model)
    placement = {h for h, t in traits.items() if trait in t}
    assert placement and placement != set(SAMPLE)
    assert _passing(cpu_filter, _boot({"trait:" + trait: "required"})) == placement
    assert _passing(cpu_filter, _boot({"trait1:" + trait: "required"})) == placement
    assert _passing(cpu_filter, _boot(image_properties={"trait:" + trait: "required"})) == placement
    assert _passing(cpu_filter, _boot({"trait:" + trait: "forbidden"})) == set(SAMPLE) - placement


def test_a_domains_flavor_specs_pass_its_hosts(cpu_filter):
    fleet = Fleet.load("sample")
    for domain in fleet.domains():
        specs = domain_specs(domain, fleet.cpumap, hw_traits=True)
        assert set(domain.hosts) <= _passing(cpu_filter, _boot(specs.extra_specs))
