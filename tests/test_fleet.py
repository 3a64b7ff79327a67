"""Migration domains: laws over random fleets, and the sample fleet by hand."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat.fleet import Fleet, Guest

MAP = cpucompat.embedded_cpu_map()
X86 = MAP.x86
LAWS = settings(max_examples=60, deadline=None)


@st.composite
def fleets(draw, min_hosts=1, max_hosts=12):
    """Fleets of a few distinct CPUs (one vendor or two), many hosts each."""
    vendors = draw(st.sampled_from([["Intel"], ["AMD"], ["Intel", "AMD"]]))
    cpus = []
    for _ in range(draw(st.integers(1, 4))):
        vendor = draw(st.sampled_from(vendors))
        model = draw(st.sampled_from([m for m in X86.models if m.vendor in (None, vendor) and m.decode_guest]))
        extra = draw(st.lists(st.sampled_from(X86.features), max_size=6, unique=True))
        cpus.append(cpucompat.Cpu(model=model.name, vendor=vendor, arch="x86_64",
                                  features=tuple((f.name, "require") for f in extra)))
    n = draw(st.integers(min_hosts, max_hosts))
    hosts = {f"h{i:02d}": draw(st.sampled_from(cpus)) for i in range(n)}
    return Fleet(hosts, MAP)


def full(cpu):
    return cpucompat.features_of(cpu, MAP)


@LAWS
@given(fleets())
def test_targets_are_exactly_the_hosts_offering_the_guests_features(fleet):
    for host in fleet.hosts[:4]:
        result = fleet.targets(host)
        guest = fleet.class_of[host].host_model.as_cpu()
        need = full(guest)
        expected = {h for h in fleet.hosts if h != host
                    and fleet.class_of[h].vendor == guest.vendor
                    and need & ~fleet.class_of[h].features == 0}
        assert set(result.targets) == expected
        assert {r.host for r in result.refused} == set(fleet.hosts) - expected - {host}


@LAWS
@given(fleets(), st.integers(1, 3))
def test_domains_partition_the_fleet(fleet, k):
    try:
        domains = fleet.domains(max_domains=k)
    except cpucompat.InvalidInventory:
        assert len({c.vendor for c in fleet.classes}) > k
        return
    members = [h for d in domains for h in d.hosts]
    assert sorted(members) == fleet.hosts  # every host exactly once
    assert len(domains) <= k


@LAWS
@given(fleets())
def test_a_domains_common_cpu_runs_on_every_member_and_is_maximal(fleet):
    for domain in fleet.domains():
        common = domain.common.as_cpu()
        assert all(cpucompat.compare(common, fleet.class_of[h].cpu, MAP).compatible for h in domain.hosts)
        shared = ~0
        for h in domain.hosts:
            shared &= fleet.class_of[h].features
        spare = shared & ~full(common) & ~X86.non_migratable
        for feature in X86.iter_features(spare):
            if feature.name in cpucompat.compat.QEMU_FILTERED:
                continue
            raise AssertionError(f"{feature.name} is on every member but not in the common CPU")
        for feature in X86.iter_features(~shared & X86.all_features):
            bigger = common.with_features([(feature.name, "require")])
            assert not all(cpucompat.compare(bigger, fleet.class_of[h].cpu, MAP).compatible
                           for h in domain.hosts)


@LAWS
@given(fleets())
def test_what_if_with_nothing_changes_nothing(fleet):
    assert not fleet.what_if().changed


@LAWS
@given(fleets(min_hosts=2), st.data())
def test_retiring_a_host_never_adds_a_target(fleet, data):
    retired = data.draw(st.sampled_from(fleet.hosts))
    after = fleet.without([retired])
    for host in after.hosts[:4]:
        assert set(after.targets(host).targets) <= set(fleet.targets(host).targets)
    assert not fleet.what_if(retire=[retired]).targets_gained


# -- the sample fleet, by hand ---------------------------------------------------

def sample() -> Fleet:
    return Fleet.load("sample")


def test_sample_fleet_classes():
    fleet = sample()
    assert len(fleet.hosts) == 44 and len(fleet.classes) == 8 and not fleet.failures
    assert fleet.class_of["skylake-01"] is fleet.class_of["skylake-08"]


def test_sample_host_model_moves_up_not_down():
    fleet = sample()
    # Skylake-Server guests can go to Cascade Lake and Ice Lake hosts...
    up = fleet.targets("skylake-01").targets
    assert "cascadelake-01" in up and "icelake-01" in up
    # ...but not down to Broadwell, which lacks AVX-512, nor across vendors
    refused = {r.host: r for r in fleet.targets("skylake-01").refused}
    assert "avx512f" in refused["broadwell-01"].missing
    assert "epyc-rome-01" in refused and "vendor" in refused["epyc-rome-01"].reason


def test_sample_domains_are_what_an_operator_would_draw():
    """Default (no host gives up more than 10 features): Skylake and Cascade
    Lake share an AVX-512 domain (Skylake-Server), Haswell and Broadwell an
    AVX2 one (Haswell-noTSX); Sandy Bridge, Ice Lake and the two EPYC
    generations stay alone: merging them would cost too much."""
    domains = {tuple(sorted({h.rsplit('-', 1)[0] for h in d.hosts})): d for d in sample().domains()}
    assert set(domains) == {("cascadelake", "skylake"), ("broadwell", "haswell"), ("sandybridge",),
                            ("icelake",), ("epyc-naples",), ("epyc-rome",)}
    assert domains[("cascadelake", "skylake")].common.model == "Skylake-Server"
    assert domains[("cascadelake", "skylake")].level == "x86-64-v4"
    assert domains[("broadwell", "haswell")].common.model == "Haswell-noTSX"
    assert domains[("sandybridge",)].level == "x86-64-v2"


def test_sample_two_domains_means_one_per_vendor():
    domains = sample().domains(max_domains=2)
    assert sorted(d.common.vendor for d in domains) == ["AMD", "Intel"]
    intel = next(d for d in domains if d.common.vendor == "Intel")
    # the Haswell dump predates the IBRS microcode, so the -IBRS variant goes
    assert intel.common.model == "SandyBridge" and intel.level == "x86-64-v2"


def test_sample_retiring_sandy_bridge_raises_the_intel_baseline():
    result = sample().what_if(retire=[f"sandybridge-0{i}" for i in range(1, 5)])
    assert result.common_before["Intel"] == "SandyBridge"
    assert result.common_after["Intel"] == "Haswell-noTSX"
    assert result.changed and not result.targets_gained


def test_sample_stranded_guests():
    fleet = sample()
    icelake_guest = cpucompat.host_model(fleet.class_of["icelake-01"].cpu).as_cpu()
    stranded = fleet.stranded([Guest("ok", "skylake-01"),
                               Guest("pinned", "icelake-01",
                                     icelake_guest.with_features([("invtsc", "require")]))])
    assert [s.guest for s in stranded] == ["pinned"]
    assert "invtsc" in stranded[0].reason


def test_common_of_chosen_hosts_says_what_each_loses():
    result = sample().common(["haswell-01", "icelake-01"])
    assert result.common.model == "Haswell-noTSX"
    assert result.loss["haswell-01"] == ()
    assert "avx512f" in result.loss["icelake-01"]
