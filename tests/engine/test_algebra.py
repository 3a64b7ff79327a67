"""Laws of the CPU algebra, over CPUs hypothesis draws from the map."""
from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.engine.graph import hasse, subset_order
from cpucompat.engine.compare import features_of

MAP = resolve_map_spec("9.0.0")  # libvirt 9.0.0's map: its facts (and this machine's libvirt)
LEGACY = cpucompat.load_cpu_map(Path(__file__).resolve().parents[1] / "data" / "legacy" / "cpu_map.xml")
X86 = MAP.x86
LAWS = settings(max_examples=200, deadline=None)


@st.composite
def hosts(draw, vendor=st.sampled_from(["Intel", "AMD"])):
    chosen_vendor = draw(vendor)
    model = draw(st.sampled_from([m for m in X86.models if m.vendor in (None, chosen_vendor)]))
    extra = draw(st.lists(st.sampled_from(X86.features), max_size=10, unique=True))
    return cpucompat.Cpu(model=model.name, vendor=chosen_vendor, arch="x86_64",
                         features=tuple((f.name, "require") for f in extra))


@st.composite
def same_vendor_groups(draw):
    vendor = draw(st.sampled_from(["Intel", "AMD"]))
    return draw(st.lists(hosts(st.just(vendor)), min_size=1, max_size=6))


def full(cpu, cpumap=MAP) -> int:
    return features_of(cpu, cpumap)


@LAWS
@given(same_vendor_groups())
def test_baseline_is_lower_bound_of_every_input(group):
    try:
        result = cpucompat.baseline(group, MAP)
    except cpucompat.IncompatibleCpus:
        return
    common = full(result.as_cpu())
    for cpu in group:
        assert common & ~full(cpu) == 0
        assert cpucompat.compare(result.as_cpu(), cpu, MAP).compatible


@LAWS
@given(same_vendor_groups())
def test_baseline_keeps_every_common_feature_it_can_name(group):
    """Maximality: nothing all inputs share is lost (QEMU-filtered ones aside)."""
    try:
        result = cpucompat.baseline(group, MAP)
    except cpucompat.IncompatibleCpus:
        return
    shared = ~0
    for cpu in group:
        shared &= full(cpu)
    lost = shared & ~full(result.as_cpu())
    assert set(X86.names(lost)) <= cpucompat.engine.decode.QEMU_FILTERED


@LAWS
@given(hosts())
def test_compare_with_itself_is_identical(cpu):
    assert cpucompat.compare(cpu, cpu, MAP).result == cpucompat.IDENTICAL


@LAWS
@given(hosts(), st.booleans())
def test_expansion_is_idempotent(cpu, migratable):
    once = cpucompat.expand(cpu, MAP, migratable=migratable)
    twice = cpucompat.expand(once.as_cpu(), MAP, migratable=migratable)
    assert (twice.model, twice.expanded, twice.disabled) == (once.model, once.expanded, once.disabled)


@LAWS
@given(hosts(), hosts())
def test_superset_host_runs_everything_a_subset_host_runs(a, b):
    if a.vendor != b.vendor:
        return
    if full(a) & ~full(b) == 0:
        assert cpucompat.compare(a, b, MAP).compatible
    else:
        assert not cpucompat.compare(a, b, MAP).compatible


@LAWS
@given(hosts())
def test_host_model_runs_on_its_host(cpu):
    guest = cpucompat.host_model(cpu, MAP).as_cpu()
    assert cpucompat.compare(guest, cpu, MAP).compatible


@LAWS
@given(hosts(), st.booleans())
def test_legacy_and_split_forms_of_one_map_agree(cpu, migratable):
    split = cpucompat.expand(cpu, MAP, migratable=migratable)
    legacy = cpucompat.expand(cpu, LEGACY, migratable=migratable)
    assert (split.model, split.expanded, split.disabled) == (legacy.model, legacy.expanded, legacy.disabled)


def _at_or_below(a, b) -> bool:
    """The model order on raw map models: features ⊆, vendor none or the same."""
    return a.features & ~b.features == 0 and (a.vendor is None or a.vendor == b.vendor)


@pytest.mark.parametrize("map_fixture", ["cpumap", "map_11"])
def test_subset_order_is_a_partial_order_whose_closure_is_the_subset_relation(request, map_fixture):
    x86 = request.getfixturevalue(map_fixture).x86
    order = subset_order(x86)
    node_of = {name: node for node in order for name in node}
    assert sorted(node_of) == sorted(m.name for m in x86.models)  # every model in exactly one node
    for a in order:
        assert not order.has_edge(a, a)
        for b in order.successors(a):
            assert not order.has_edge(b, a)  # antisymmetric
            for c in order.successors(b):
                assert order.has_edge(a, c)  # transitive
    closure = set(nx.transitive_closure_dag(hasse(x86)).edges)
    expected = set()
    for a in x86.models:
        for b in x86.models:
            if not _at_or_below(a, b):
                continue
            if _at_or_below(b, a):  # same features and vendor: one node
                assert node_of[a.name] == node_of[b.name]
            else:
                expected.add((node_of[a.name], node_of[b.name]))
    assert closure == expected == set(order.edges)


@pytest.mark.parametrize("arch", ["x86_64", "i686", "amd64", "i386", "X86_64"])
def test_every_x86_arch_spelling_is_decided_by_features_in_compare_baseline_and_host_model(arch):
    host = cpucompat.Cpu(model="Haswell-noTSX", vendor="Intel", arch=arch)
    older = cpucompat.Cpu(model="SandyBridge")
    assert cpucompat.compare(older, host, MAP).result == "superset"  # not "differs by name"
    assert cpucompat.baseline([host], MAP).model == "Haswell-noTSX"
    assert cpucompat.compare(cpucompat.host_model(host, MAP).as_cpu(), host, MAP).compatible


def test_other_arches_are_compared_by_name_and_refused_by_baseline_and_expand():
    arm = cpucompat.Cpu(model="Neoverse-N1", arch="aarch64")
    assert cpucompat.compare(cpucompat.Cpu(model="Neoverse-N1"), arm, MAP).result == "identical"
    assert cpucompat.compare(cpucompat.Cpu(model="Neoverse-V1"), arm, MAP).result == "incompatible"
    for operation in (cpucompat.baseline, cpucompat.expand):
        with pytest.raises(cpucompat.errors.UnknownArch, match="aarch64"):
            operation([arm] if operation is cpucompat.baseline else arm, MAP)


def test_baseline_names_its_inputs_only_when_it_fails(monkeypatch):
    from cpucompat.engine import baseline as baseline_module

    def inputs(cpus):
        raise AssertionError("the inputs were named for a baseline that succeeded")

    monkeypatch.setattr(baseline_module, "_inputs", inputs)
    cpus = [cpucompat.Cpu(model=name, vendor="Intel", arch="x86_64", source=f"{name}.xml")
            for name in ("Haswell-noTSX", "Skylake-Client", "Broadwell-noTSX")]
    assert baseline_module._baseline(tuple(cpus), MAP, False).model == "Haswell-noTSX"
