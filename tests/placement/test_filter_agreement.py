"""The filter and Placement agree on cpucompat's model traits: a host
Placement returns for a required model trait (it has the trait from
`host_traits`) passes the filter's decision, and a host it does not
return fails it; forbidden traits the other way round.  The same fleet
goes through both: real Nova cpu_info (tests/data/nova) and the sample."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpucompat.engine.maps import resolve_map_spec
from cpucompat.nova.config import CpuPolicy
from cpucompat.nova.scheduling import CpuPlacement
from cpucompat.placement import host_traits
from cpucompat.placement.names import model_traits
from cpucompat.planner.fleet import Fleet
from cpucompat.planner.inventory import sample_path

NOVA_DATA = Path(__file__).resolve().parents[1] / "data" / "nova"


def _cpu_infos(name: str) -> dict[str, object]:
    if name == "nova":
        return {p.stem: p.read_text() for p in sorted(NOVA_DATA.glob("*.json"))}
    return json.loads(sample_path().read_text())["hosts"]


@pytest.mark.parametrize("version", ["9.0.0", "11.3.0", "12.8.0"])
@pytest.mark.parametrize("hosts", ["nova", "sample"])
@pytest.mark.parametrize("mode", ["host-model", "host-passthrough"])
def test_filter_passes_exactly_the_hosts_placement_returns_for_a_model_trait(version, hosts, mode):
    cpumap = resolve_map_spec(version)
    infos = _cpu_infos(hosts)
    fleet = Fleet.load([str(NOVA_DATA)] if hosts == "nova" else "sample", cpumap)
    assert sorted(fleet.hosts) == sorted(infos) and not fleet.failures
    traits = host_traits(fleet)
    placement = CpuPlacement(CpuPolicy(mode, (), (), cpumap, "exact", True))
    disagreements = []
    returned_some = 0
    for trait in model_traits(cpumap.x86).values():
        required = placement.request({"trait:" + trait: "required"})
        forbidden = placement.request({"trait2:" + trait: "forbidden"})
        by_image = placement.request({}, image_traits=[trait])
        for host, info in infos.items():
            has = trait in traits[host]
            returned_some += has
            for request, expected in ((required, has), (by_image, has), (forbidden, not has)):
                decision = placement.decide(request, info)
                assert not decision.error, decision.reason
                if decision.passes != expected:
                    disagreements.append((trait, host, expected, decision.reason))
    assert not disagreements
    assert returned_some  # the hosts run some models: the check is not vacuous


def test_a_model_trait_the_filters_map_does_not_know_refuses_every_host_when_required():
    placement = CpuPlacement(CpuPolicy("host-model", (), (), resolve_map_spec("9.0.0"), "exact", True))
    info = _cpu_infos("nova")["icelake"]
    required = placement.request({"trait:CUSTOM_CPUCOMPAT_MODEL_SAPPHIRERAPIDS": "required"})
    assert required.unknown_required == ("CUSTOM_CPUCOMPAT_MODEL_SAPPHIRERAPIDS",)
    assert not placement.decide(required, info).passes
    forbidden = placement.request({"trait:CUSTOM_CPUCOMPAT_MODEL_SAPPHIRERAPIDS": "forbidden"})
    assert placement.decide(forbidden, info).passes


def test_a_domain_trait_alone_is_left_to_placement():
    placement = CpuPlacement(CpuPolicy("host-model", (), (), resolve_map_spec("12.8.0"), "exact", True))
    request = placement.request({"trait:CUSTOM_CPUCOMPAT_DOMAIN_EPYC_0123456789": "required"})
    assert all(placement.decide(request, info).passes for info in _cpu_infos("nova").values())
