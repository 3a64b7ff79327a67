"""compare_hypervisor answers as the real virConnectCompareHypervisorCPU did.

tests/data/hypervisor/<version>.json records, per libvirt release (9.0.0 on
this machine, 11.3.0 and 12.8.0 in their Debian chroots, KVM), the domain
capabilities it reported and its answer for each guest CPU of
tests/differential/laws.HypervisorModelCases; tests/differential/record_hv.py
writes them.  The replay needs no libvirt.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpucompat.engine.compare import compare
from cpucompat.engine.hypervisor import compare_hypervisor
from cpucompat.engine.maps import map_rules, resolve_map_spec
from cpucompat.engine.releases import QEMU_CHECKS_USABILITY_SINCE, RULES, version_key
from cpucompat.errors import CpuCompatError
from cpucompat.inputs.domcaps import parse_domcaps
from cpucompat.inputs.parse import parse_cpus

RECORDS = sorted((Path(__file__).resolve().parents[1] / "data" / "hypervisor").glob("*.json"))


def _load(path: Path):
    record = json.loads(path.read_text())
    cpumap = resolve_map_spec(record["libvirt"])
    host_model, models = parse_domcaps(record["domcaps"], path.name, cpumap)
    return record, cpumap, host_model, models


def _ours(guest: str, host_model, models, cpumap) -> str | None:
    try:
        return compare_hypervisor(parse_cpus(guest, "guest", cpumap)[0], host_model, models, cpumap).result
    except CpuCompatError:
        return None  # libvirt refuses the same guests (its answer has no result)


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_compare_hypervisor_answers_as_the_release_did(path):
    record, cpumap, host_model, models = _load(path)
    assert record["cases"]
    differing = [(case["guest"], case["result"], ours) for case in record["cases"]
                 if (ours := _ours(case["guest"], host_model, models, cpumap)) != case["result"]]
    assert not differing, f"libvirt {record['libvirt']}: {len(differing)} differ, first {differing[0]}"


def test_the_rule_changes_where_libvirt_says_it_does():
    assert RULES["9.0.0"].hypervisor_compare == "host-model"
    for version, rules in RULES.items():
        newer = version_key(version) >= version_key(QEMU_CHECKS_USABILITY_SINCE)
        assert rules.hypervisor_compare == ("usability" if newer else "host-model")


@pytest.mark.parametrize("path", [p for p in RECORDS if p.stem != "9.0.0"], ids=lambda p: p.stem)
def test_newer_releases_run_models_the_host_model_cpu_would_refuse(path):
    """From 10.9.0 a usable model, or an unusable one without <check
    partial='compat'/> with its blockers disabled, fits where comparing
    with the host-model CPU (9.0.0's rule) says incompatible: the recorded
    answers show both steps on this machine."""
    record, cpumap, host_model, models = _load(path)
    assert map_rules(cpumap).hypervisor_compare == "usability"
    steps = set()
    for case in record["cases"]:
        if case["result"] != "superset":
            continue
        guest = parse_cpus(case["guest"], "guest", cpumap)[0]
        if compare(guest, host_model, cpumap).compatible:
            continue
        usable = models.usable(guest.model)
        model = cpumap.x86.model(guest.model)
        steps.add("usable" if usable else "blockers disabled")
        assert usable or not model.check_partial_compat
    assert "blockers disabled" in steps


def test_other_arches_are_compared_with_the_host_model_cpu():
    """qemuDomainCheckCPU is x86's: an aarch64 host-model CPU, even with
    QEMU's models at hand, is compared as virCPUCompare does."""
    cpumap = resolve_map_spec("12.8.0")
    host = parse_cpus("<cpu><arch>aarch64</arch><model>cortex-a57</model></cpu>", "host", cpumap)[0]
    models = parse_domcaps(json.loads(RECORDS[-1].read_text())["domcaps"], "domcaps", cpumap)[1]
    for model in ("cortex-a57", "cortex-a72"):
        guest = parse_cpus(f"<cpu><model>{model}</model></cpu>", "guest", cpumap)[0]
        assert compare_hypervisor(guest, host, models, cpumap) == compare(guest, host, cpumap)
