"""cpucompat.placement.sync against a real Placement (tests/placement/conftest.py):
what Placement then answers, foreign traits, stale traits, generation
conflicts, missing providers, dry runs."""
from __future__ import annotations

import pytest

from cpucompat.errors import GenerationConflict, InvalidArgument, InvalidConfig, PlacementError
from cpucompat.nova.customtraits import model_guest, model_traits
from cpucompat.placement import domain_trait, host_traits
from cpucompat.placement.client import PlacementClient, check_placement_url
from cpucompat.placement.sync import sync_traits
from cpucompat.planner.fleet import Fleet

MODEL_A = "CUSTOM_CPUCOMPAT_MODEL_TEST_A"
MODEL_B = "CUSTOM_CPUCOMPAT_MODEL_TEST_B"


@pytest.fixture(scope="module")
def sample() -> Fleet:
    return Fleet.load("sample")


def _providers(client: PlacementClient, names) -> dict[str, str]:
    """Create a provider with VCPU inventory per name; name → uuid."""
    return {name: client.create_provider(name, vcpus=16).uuid for name in names}


def _candidates(client: PlacementClient, trait: str, uuids: dict[str, str]) -> set[str]:
    names = {u: n for n, u in uuids.items()}
    return {names[u] for u in client.candidate_providers("VCPU:1", required=[trait])}


def test_synced_fleet_makes_placement_answer_what_the_planner_says(placement, sample):
    client = placement.client()
    uuids = _providers(client, sample.hosts)
    result = sync_traits(client, host_traits(sample))
    assert result.ok and not result.missing and len(result.changed) == len(sample.hosts)
    archmap = sample.archmap
    checked = 0
    for name, trait in model_traits(archmap).items():
        expected = set(sample.domain(model_guest(archmap, name))[0])
        if not expected:
            continue  # a trait no host has is not in Placement: nothing to ask
        assert _candidates(client, trait, uuids) == expected, name
        checked += 1
    for domain in sample.domains():
        expected = {h for member in domain.classes for h in member.hosts}
        assert _candidates(client, domain_trait(domain), uuids) == expected, domain.name
    assert checked > 20  # models of several generations were asked about


def test_second_sync_changes_nothing_and_says_so(placement, sample):
    client = placement.client()
    _providers(client, sample.hosts)
    desired = host_traits(sample)
    sync_traits(client, desired)
    again = sync_traits(client, desired)
    assert not again.changed and len(again.unchanged) == len(sample.hosts) and again.ok


def test_foreign_traits_survive_and_stale_cpucompat_traits_go(placement):
    client = placement.client()
    uuids = _providers(client, ["h1", "h2"])
    client.ensure_trait(MODEL_B)
    client.ensure_trait("CUSTOM_OPERATOR_GOLD")
    for name in ("h1", "h2"):
        provider = next(p for p in client.providers() if p.name == name)
        client.set_provider_traits(provider, ["HW_CPU_X86_AVX2", "CUSTOM_OPERATOR_GOLD", MODEL_B],
                                   provider.generation)
    result = sync_traits(client, {"h1": [MODEL_A], "h2": [MODEL_B]})
    by_host = {h.host: h for h in result.hosts}
    assert by_host["h1"].added == (MODEL_A,) and by_host["h1"].removed == (MODEL_B,)
    assert by_host["h2"].status == "unchanged"
    for name, ours in (("h1", MODEL_A), ("h2", MODEL_B)):
        provider = next(p for p in client.providers() if p.uuid == uuids[name])
        assert client.provider_traits(provider).traits == {"HW_CPU_X86_AVX2", "CUSTOM_OPERATOR_GOLD", ours}


def test_a_host_without_a_provider_is_reported_not_fatal(placement):
    client = placement.client()
    _providers(client, ["h1"])
    result = sync_traits(client, {"h1": [MODEL_A], "gone": [MODEL_A]})
    assert [h.host for h in result.missing] == ["gone"] and [h.host for h in result.changed] == ["h1"]
    assert result.ok


def test_dry_run_returns_the_diff_and_writes_nothing(placement):
    client = placement.client()
    uuids = _providers(client, ["h1"])
    result = sync_traits(client, {"h1": [MODEL_A]}, dry_run=True)
    assert result.dry_run and result.hosts[0].added == (MODEL_A,)
    provider = next(p for p in client.providers() if p.uuid == uuids["h1"])
    assert client.provider_traits(provider).traits == frozenset() and provider.generation == 1
    assert MODEL_A not in client.traits("CUSTOM_CPUCOMPAT_")


class _Meddling(PlacementClient):
    """A client whose provider changes (through the real Placement, by
    another writer adding one more operator trait) between its read and
    its write, `times` times."""

    def __init__(self, adapter, times: int) -> None:
        super().__init__(adapter)
        self.times = times
        self.writes = 0

    def set_provider_traits(self, provider, traits, generation):
        self.writes += 1
        if self.times > 0:
            self.times -= 1
            now = super().provider_traits(provider)
            trait = f"CUSTOM_OPERATOR_{self.writes}"
            self.ensure_trait(trait)
            super().set_provider_traits(provider, now.traits | {trait}, now.generation)
        return super().set_provider_traits(provider, traits, generation)


def test_a_generation_conflict_is_read_again_and_retried(placement):
    client = placement.client()
    _providers(client, ["h1"])
    meddling = _Meddling(client.adapter, times=2)
    result = sync_traits(meddling, {"h1": [MODEL_A]})
    assert result.ok and result.retried == 2 and meddling.writes == 3
    provider = client.providers()[0]
    # the other writer's traits were read again, so they survive
    assert client.provider_traits(provider).traits == {"CUSTOM_OPERATOR_1", "CUSTOM_OPERATOR_2", MODEL_A}


def test_endless_conflicts_fail_that_host_only_and_write_nothing_of_it(placement):
    client = placement.client()
    _providers(client, ["h1"])
    result = sync_traits(_Meddling(client.adapter, times=100), {"h1": [MODEL_A]}, retries=2)
    assert not result.ok and result.failed[0].host == "h1"
    assert "HTTP 409" in result.failed[0].error and "after 2 retries" in result.failed[0].error
    assert MODEL_A not in client.provider_traits(client.providers()[0]).traits


def test_a_stale_generation_is_a_generation_conflict(placement):
    client = placement.client()
    _providers(client, ["h1"])
    provider = client.providers()[0]
    client.set_provider_traits(provider, ["HW_CPU_X86_AVX2"], provider.generation)
    with pytest.raises(GenerationConflict, match="set the traits of h1: HTTP 409"):
        client.set_provider_traits(provider, [], provider.generation)


def test_foreign_traits_are_never_synced():
    with pytest.raises(InvalidArgument, match="only CUSTOM_CPUCOMPAT_"):
        sync_traits(None, {"h1": ["HW_CPU_X86_AVX2"]})  # type: ignore[arg-type]


def test_http_errors_are_one_line_naming_the_call_and_status(placement):
    client = placement.client()
    with pytest.raises(PlacementError, match=r"create trait HW_NOT_CUSTOM: HTTP 400") as caught:
        client.ensure_trait("HW_NOT_CUSTOM")
    assert caught.value.status == 400 and "\n" not in str(caught.value)
    bad = PlacementClient.from_url(placement.url, "not-admin")
    with pytest.raises(PlacementError, match="HTTP 403"):
        bad.ensure_trait("CUSTOM_X")


def test_an_unreachable_placement_is_one_line():
    client = PlacementClient.from_url("http://127.0.0.1:9", "admin")
    with pytest.raises(PlacementError, match="cannot reach Placement"):
        client.providers()


def test_an_oversized_answer_is_refused(placement):
    client = placement.client()
    _providers(client, ["h1", "h2"])
    small = PlacementClient(client.adapter, max_response_bytes=100)
    with pytest.raises(PlacementError, match="larger than 100 bytes"):
        small.providers()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://h/", "http://user:pw@h/", "http:///x",
                                 "http://h/?x=1", "http://h:99999/"])
def test_only_plain_http_urls_are_used(url):
    with pytest.raises(InvalidConfig):
        check_placement_url(url)
    with pytest.raises(InvalidConfig):
        PlacementClient.from_url(url, "admin")


def test_a_url_needs_a_token(monkeypatch):
    monkeypatch.delenv("OS_TOKEN", raising=False)
    with pytest.raises(InvalidConfig, match="OS_TOKEN"):
        PlacementClient.from_url("http://127.0.0.1:8778/", None)


def test_provider_config_files_give_placement_the_same_answer_as_sync(placement, sample, tmp_path):
    """The Nova-native path (provider config files, loaded by Nova's own
    loader, their traits put on providers as nova-compute adds them) and
    the REST sync make Placement answer every trait alike."""
    provider_config = pytest.importorskip("nova.compute.provider_config",
                                          reason="Nova is not installed (pip install '.[nova]')")
    from cpucompat.placement.providerconfig import write_provider_configs

    desired = host_traits(sample)
    traits = sorted({t for ts in desired.values() for t in ts})
    client = placement.client()
    uuids = _providers(client, sample.hosts)
    sync_traits(client, desired)
    by_sync = {t: _candidates(client, t, uuids) for t in traits}

    placement.clear()
    uuids = _providers(client, sample.hosts)
    write_provider_configs(desired, tmp_path)
    loaded = provider_config.get_provider_configs(str(tmp_path))
    for provider in client.providers():
        additional = loaded[provider.name]["traits"]["additional"]
        for trait in additional:
            client.ensure_trait(trait)
        client.set_provider_traits(provider, additional, provider.generation)
    assert {t: _candidates(client, t, uuids) for t in traits} == by_sync
