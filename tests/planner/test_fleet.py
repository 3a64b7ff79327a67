"""Migration domains: laws over random fleets, the fast answers against
simple references, and the sample fleet by hand."""
from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat.planner import partition as search
from cpucompat.errors import InvalidInventory
from cpucompat.errors import TooFewDomains
from cpucompat.planner.fleet import DEFAULT_MAX_LOSS, Fleet, Guest, Unchecked
from cpucompat.engine.compare import features_of

MAP = cpucompat.embedded_cpu_map()
X86 = MAP.x86
LAWS = settings(max_examples=60, deadline=None)


@st.composite
def host_cpus(draw, vendors, max_cpus=4):
    """A few host CPUs of `vendors`: a model plus some extra features."""
    cpus = []
    for _ in range(draw(st.integers(1, max_cpus))):
        vendor = draw(st.sampled_from(vendors))
        model = draw(st.sampled_from([m for m in X86.models if m.vendor in (None, vendor) and m.decode_guest]))
        extra = draw(st.lists(st.sampled_from(X86.features), max_size=6, unique=True))
        cpus.append(cpucompat.Cpu(model=model.name, vendor=vendor, arch="x86_64",
                                  features=tuple((f.name, "require") for f in extra)))
    return cpus


@st.composite
def fleets(draw, min_hosts=1, max_hosts=12, max_cpus=4):
    """Fleets of a few distinct CPUs (one vendor or two), many hosts each."""
    vendors = draw(st.sampled_from([["Intel"], ["AMD"], ["Intel", "AMD"]]))
    cpus = draw(host_cpus(vendors, max_cpus))
    n = draw(st.integers(min_hosts, max_hosts))
    hosts = {f"h{i:02d}": draw(st.sampled_from(cpus)) for i in range(n)}
    return Fleet(hosts, MAP)


PARTITIONS = st.sampled_from([{}, {"max_loss": 0}, {"max_loss": 3}, {"max_loss": 40}, {"max_domains": 1},
                              {"max_domains": 2}, {"max_domains": 3}, {"max_domains": 2, "max_loss": 5}])


def full(cpu):
    return features_of(cpu, MAP)


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
        refused = [h for r in result.refused for h in r.hosts]
        assert len(refused) == len(set(refused))  # each host once, under its class
        assert set(refused) == set(fleet.hosts) - expected - {host}
        assert all(fleet.class_of[h] is r.cpu_class for r in result.refused for h in r.hosts)


@LAWS
@given(fleets(max_cpus=6), PARTITIONS)
def test_domains_partition_the_fleet(fleet, options):
    try:
        domains = fleet.domains(**options)
    except cpucompat.InvalidInventory:
        assert "max_domains" in options  # only a limit on their number can fail
        assert (len({c.vendor for c in fleet.classes}) > options["max_domains"]
                or len(_fewest_reference(fleet, options["max_loss"])[0]) > options["max_domains"])
        return
    members = [h for d in domains for h in d.hosts]
    assert sorted(members) == fleet.hosts  # every host exactly once
    assert len(domains) <= options.get("max_domains", len(fleet.classes))
    for domain in domains:
        assert len({fleet.class_of[h].vendor for h in domain.hosts}) == 1  # never across vendors


def _loss_of(classes, limit=None):
    """(features given up summed over hosts, the most one host gives up) when
    `classes` share one domain: the measure domains() plans with."""
    common = ~0
    for cls in classes:
        common &= cls.features
    lost = [(cls.guest_features & ~common).bit_count() for cls in classes]
    return sum(n * len(c.hosts) for n, c in zip(lost, classes)), max(lost)


def _set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _set_partitions(rest):
        yield [[first]] + partition
        for i in range(len(partition)):
            yield partition[:i] + [[first] + partition[i]] + partition[i + 1:]


def _fewest_reference(fleet, limit):
    """Every partition of the classes, by brute force: the fewest domains of
    one vendor each, no host giving up more than `limit`, cheapest first."""
    best = None
    for partition in _set_partitions(list(fleet.classes)):
        if any(len({c.vendor for c in group}) > 1 for group in partition):
            continue
        if any(len(group) > 1 and _loss_of(group)[1] > limit for group in partition):
            continue
        score = (len(partition), sum(_loss_of(group)[0] for group in partition))
        if best is None or score < best[1]:
            best = (partition, score)
    return best


@LAWS
@given(fleets(max_cpus=6), st.sampled_from([None, 0, 3, 10, 40]))
def test_default_domains_are_the_fewest_within_the_loss_bound_then_the_cheapest(fleet, max_loss):
    domains = fleet.domains(max_loss=max_loss)
    limit = DEFAULT_MAX_LOSS if max_loss is None else max_loss
    groups = [sorted({fleet.class_of[h] for h in d.hosts}, key=lambda c: c.index) for d in domains]
    assert all(len(g) == 1 or _loss_of(g)[1] <= limit for g in groups)
    _, (fewest, cheapest) = _fewest_reference(fleet, limit)
    assert (len(groups), sum(_loss_of(g)[0] for g in groups)) == (fewest, cheapest)


def _greedy_reference(classes, max_domains, limit):
    """The quadratic greedy merging the fast one must reproduce, step for step:
    every pair priced again at every merge, the cheapest (then smallest
    worst loss, then first) merged."""
    groups = [[c] for c in classes]
    commons = [c.features for c in classes]
    while len(groups) > 1:
        best = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if groups[i][0].vendor != groups[j][0].vendor:
                    continue
                common = commons[i] & commons[j]
                members = groups[i] + groups[j]
                worst = max((c.guest_features & ~common).bit_count() for c in members)
                if limit is not None and worst > limit:
                    continue
                cost = sum((c.guest_features & ~common).bit_count() * len(c.hosts) for c in members)
                cost -= sum((c.guest_features & ~commons[k]).bit_count() * len(c.hosts)
                            for k in (i, j) for c in groups[k])
                if best is None or (cost, worst) < best[0]:
                    best = ((cost, worst), i, j, common)
        if best is None or (max_domains is not None and len(groups) <= max_domains):
            break
        _, i, j, common = best
        groups[i] = groups[i] + groups[j]
        commons[i] = common
        del groups[j], commons[j]
    return groups


@LAWS
@given(fleets(max_hosts=30, max_cpus=10), st.sampled_from([None, 1, 2, 3, 5]),
       st.sampled_from([None, 0, 2, 10, 40]))
def test_greedy_merging_merges_as_the_quadratic_reference(fleet, max_domains, limit):
    by_vendor = {}
    for cls in fleet.classes:
        by_vendor.setdefault(cls.vendor, []).append(cls)
    fast = search.merge_greedily([[c.part for c in members] for members in by_vendor.values()],
                                 max_domains, limit)
    reference = _greedy_reference(fleet.classes, max_domains, limit)
    # the same groups, each with its classes in the same order (baseline's input order)
    assert sorted([p.key for p in g] for g in fast) == sorted([c.index for c in g] for g in reference)


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
            if feature.name in cpucompat.engine.decode.QEMU_FILTERED:
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
@given(fleets(min_hosts=2, max_cpus=5), st.data())
def test_what_if_targets_are_the_per_host_differences(fleet, data):
    retire = data.draw(st.lists(st.sampled_from(fleet.hosts), max_size=4, unique=True))
    new_cpus = data.draw(host_cpus(["Intel", "AMD"], 3)) + [fleet.classes[0].cpu]
    add = {f"new{i}": data.draw(st.sampled_from(new_cpus)) for i in range(data.draw(st.integers(0, 4)))}
    result = fleet.what_if(add, retire)
    after = fleet.without(retire).with_hosts(add)
    gained, lost = {}, {}
    for host in after.hosts:  # the reference: every host's targets, before and after
        if host in fleet.class_of:
            before_t, after_t = set(fleet.targets(host).targets), set(after.targets(host).targets)
            if after_t - before_t:
                gained[host] = tuple(sorted(after_t - before_t))
            if before_t - after_t:
                lost[host] = tuple(sorted(before_t - after_t))
    assert result.targets_gained == gained and result.targets_lost == lost
    assert list(result.targets_gained) == sorted(gained) and list(result.targets_lost) == sorted(lost)


@LAWS
@given(fleets(max_cpus=5), st.data())
def test_stranded_guests_are_those_whose_domain_holds_no_other_host(fleet, data):
    cpus = [None] + [c.host_model.as_cpu() for c in fleet.classes] + [
        fleet.classes[0].host_model.as_cpu().with_features([("invtsc", "require")])]
    guests = [Guest(f"g{i}", data.draw(st.sampled_from(fleet.hosts)), data.draw(st.sampled_from(cpus)))
              for i in range(data.draw(st.integers(1, 8)))]
    expected = []
    for guest in guests:  # the reference: one domain() per guest
        cpu = guest.cpu or fleet.class_of[guest.host].host_model.as_cpu()
        if "invtsc" in cpu.feature_names("require"):
            expected.append((guest.name, "non-migratable"))
            continue
        hosts, refused = fleet.domain(cpu)
        if not set(hosts) - {guest.host}:
            nearest = min(refused, key=lambda r: (len(r.missing), r.hosts[0]), default=None)
            expected.append((guest.name, f"nearest {nearest.hosts[0]}: {nearest.reason}" if nearest
                             else "no other host in the fleet"))
    stranded = fleet.stranded(guests)
    assert [s.guest for s in stranded] == [name for name, _ in expected]
    for s, (_, why) in zip(stranded, expected):
        assert why in s.reason
    assert stranded.checked == len(guests) and stranded.unchecked == ()


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
    refused = {h: r for r in fleet.targets("skylake-01").refused for h in r.hosts}
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


def test_fewest_domains_where_cheapest_first_merging_leaves_three():
    """Sandy Bridge and Ivy Bridge are the cheapest pair, but merging them
    first strands Nehalem and Haswell alone (each too far from the pair):
    pairing Nehalem with Sandy Bridge and Ivy Bridge with Haswell makes two
    domains in which no host gives up more than 10 features."""
    fleet = Fleet({f"{model.lower()}-01": cpucompat.Cpu(model=model, vendor="Intel", arch="x86_64")
                   for model in ("Nehalem", "SandyBridge", "IvyBridge", "Haswell")}, MAP)
    domains = fleet.domains()
    assert sorted(d.hosts for d in domains) == [("haswell-01", "ivybridge-01"), ("nehalem-01", "sandybridge-01")]
    assert max(len(lost) for d in domains for lost in d.loss.values()) <= DEFAULT_MAX_LOSS
    by_vendor = [[c.part for c in fleet.classes]]
    assert len(search.merge_greedily(by_vendor, None, DEFAULT_MAX_LOSS)) == 3
    # asked for two, the cheapest-first merging stops at three: the exact answer is used
    assert len(fleet.domains(max_domains=2, max_loss=DEFAULT_MAX_LOSS)) == 2


def test_stranded_answers_every_guest_it_can_and_lists_each_other_with_why():
    fleet = sample()
    odd = cpucompat.Cpu(model="qemu64", features=(("nosuchfeat", "require"),))  # parsed, not comparable
    guests = [Guest("lost", "no-such-host"), Guest("ok", "skylake-01"), Guest("odd", "haswell-01", odd),
              Guest("odd-too", "icelake-01", odd)]
    result = fleet.stranded(guests)
    assert list(result) == [] and result.checked == 1
    assert [(u.index, u.guest.name) for u in result.unchecked] == [(0, "lost"), (2, "odd"), (3, "odd-too")]
    assert "no-such-host is not in the fleet" in result.unchecked[0].reason
    assert "nosuchfeat" in result.unchecked[2].reason and isinstance(result.unchecked[2], Unchecked)


def test_too_few_domains_says_how_many_the_loss_bound_needs():
    fleet = sample()
    with pytest.raises(TooFewDomains) as caught:
        fleet.domains(max_domains=3, max_loss=0)
    assert caught.value.needed == len(fleet.domains(max_loss=0)) == 8
    assert (caught.value.max_domains, caught.value.max_loss) == (3, 0)
    with pytest.raises(TooFewDomains) as caught:
        fleet.domains(max_domains=1)
    assert caught.value.needed == 2 and "2 vendors" in str(caught.value)


def test_what_if_leaves_out_each_host_the_fleet_cannot_take_with_why():
    fleet = sample()
    add = {"passthrough": cpucompat.Cpu(mode="host-passthrough"),
           "alien": cpucompat.Cpu(model="Haswell", vendor="Zhaoxin", arch="x86_64"),
           "new-01": fleet.class_of["haswell-01"].cpu}
    result = fleet.what_if(add)
    assert result.added == ("new-01",)
    assert list(result.not_added) == ["alien", "passthrough"]
    assert "unknown CPU vendor 'Zhaoxin'" in result.not_added["alien"]
    assert "describes no CPU model" in result.not_added["passthrough"]
    assert result.to_dict()["not_added"] == dict(result.not_added)
    assert fleet.what_if({"passthrough": add["passthrough"]}).not_added  # even when nothing else changes


def test_adding_a_host_under_the_name_of_an_unreadable_one_is_refused():
    fleet = Fleet({"a": sample().class_of["haswell-01"].cpu}, MAP, failures={"b": "no answer"})
    with pytest.raises(InvalidInventory, match=r"hosts already in the fleet: b \(unreadable: no answer\)"):
        fleet.what_if({"b": fleet.class_of["a"].cpu})


def test_a_domains_max_loss_is_the_most_any_host_gives_up():
    for domain in sample().domains(max_domains=2):
        assert domain.max_loss == max(len(lost) for lost in domain.loss.values()) > 0
        assert domain.to_dict()["max_loss"] == domain.max_loss
