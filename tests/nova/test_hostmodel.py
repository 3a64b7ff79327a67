"""The host-model CPU libvirt's QEMU driver builds, predicted from a host CPU,
checked against libvirt's own record of it: for each real CPU of libvirt
9.0.0's tests/cputestdata, ``-host.xml`` is the host CPU (what Nova's
cpu_info holds) and ``-json.xml`` the host-model QEMU gave (domcapabilities).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from cpucompat.engine.maps import resolve_map_spec
from cpucompat.engine.baseline import expand
from cpucompat.inputs.parse import read_cpus
from cpucompat.nova.hostmodel import NEVER_EXPOSED, guest_host_model


def cases(testdata: Path):
    for reported in sorted(testdata.glob("x86_64-cpuid-*-json.xml")):
        host = reported.with_name(reported.name.replace("-json.xml", "-host.xml"))
        if host.exists():
            yield reported.name.removeprefix("x86_64-cpuid-").removesuffix("-json.xml"), host, reported


@pytest.fixture(scope="module")
def recorded(testdata_9):
    cpumap = resolve_map_spec("9.0.0")  # the map of the libvirt that recorded these CPUs
    found = []
    for name, host_file, json_file in cases(testdata_9):
        host = read_cpus(host_file, cpumap)[0]
        found.append((name, host, set(expand(host, cpumap).expanded),
                      set(expand(read_cpus(json_file, cpumap)[0], cpumap).expanded)))
    assert len(found) >= 50
    return cpumap, found


def test_no_recorded_host_model_has_a_feature_said_never_exposed(recorded):
    _, found = recorded
    for name, _, host_features, qemu_features in found:
        assert not (qemu_features & NEVER_EXPOSED), name
    assert all(any(feature in host for _, _, host, _ in found) for feature in NEVER_EXPOSED - {"intel-pt-lip"})


def test_the_prediction_requires_everything_the_real_host_model_has_from_the_host(recorded):
    """Safety: a destination accepted for the predicted CPU can run the real
    one.  Only non-migratable features (xsaves, invtsc) are left out: the
    migratable host-model drops them, as libvirt does for a migration."""
    cpumap, found = recorded
    non_migratable = set(cpumap.x86.names(cpumap.x86.non_migratable))
    for name, host, host_features, qemu_features in found:
        predicted = set(guest_host_model(host, cpumap).expanded)
        assert (qemu_features & host_features) - predicted <= non_migratable, name


def test_ice_lake_host_model_disables_intel_pt_as_qemu_does(recorded):
    cpumap, found = recorded
    [(_, host, _, qemu_features)] = [case for case in found if case[0] == "Ice-Lake-Server"]
    predicted = guest_host_model(host, cpumap)
    assert predicted.model == "Icelake-Server" and "intel-pt" in predicted.disabled
    assert "intel-pt" not in qemu_features
    assert not {"monitor", "ds", "acpi", "ht", "tm2"} & set(predicted.expanded)
