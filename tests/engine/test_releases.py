"""libvirt's version-dependent rules (cpucompat.engine.rules), each tested
against the libvirt change it follows, with the embedded map of each release."""
from __future__ import annotations

import shutil

import pytest

import cpucompat
from cpucompat.engine.maps import embedded_map_path, map_version, qemu_filtered, resolve_map_spec
from cpucompat.engine.releases import DEFAULT_VERSION, KNOWN_VERSIONS, RULES, rules_for, version_in
from cpucompat.errors import InvalidCpuMap
from cpucompat.inputs.parse import parse_cpus


def _expanded(xml: str, version: str, *, migratable: bool = False) -> set[str]:
    cpumap = resolve_map_spec(version)
    return set(cpucompat.expand(parse_cpus(xml, "test", cpumap)[0], cpumap, migratable=migratable).expanded)


WITH_HT = "<cpu><arch>x86_64</arch><model>486</model><feature name='ht'/><feature name='cmp_legacy'/></cpu>"


@pytest.mark.parametrize("migratable", [False, True])
def test_qemu_driver_of_12_8_0_drops_ht_and_cmp_legacy_from_expansions(migratable):
    # libvirt 12.8.0's virQEMUCapsCPUFilterFeatures (measured through ctypes,
    # FINDINGS-12 R1); 11.3.0's ignoredFeatures[] does not list them
    assert {"ht", "cmp_legacy"} <= _expanded(WITH_HT, "9.0.0", migratable=migratable)
    assert {"ht", "cmp_legacy"} <= _expanded(WITH_HT, "11.3.0", migratable=migratable)
    assert not {"ht", "cmp_legacy"} & _expanded(WITH_HT, "12.8.0", migratable=migratable)


def test_qemu_driver_of_12_8_0_drops_ht_from_baselines_and_host_model():
    cpumap = resolve_map_spec("12.8.0")
    cpus = parse_cpus(WITH_HT + WITH_HT, "test", cpumap)
    assert "ht" not in cpucompat.baseline(cpus, cpumap).features
    host = parse_cpus("<cpu><arch>x86_64</arch><model>Haswell</model><vendor>Intel</vendor>"
                      "<feature name='ht'/></cpu>", "host", cpumap)[0]
    assert "ht" not in cpucompat.host_model(host, cpumap).expanded
    old = resolve_map_spec("11.3.0")
    old_host = parse_cpus("<cpu><arch>x86_64</arch><model>Haswell</model><vendor>Intel</vendor>"
                          "<feature name='ht'/></cpu>", "host", old)[0]
    assert "ht" in cpucompat.host_model(old_host, old).expanded


def test_filtering_ht_does_not_change_compare_in_12_8_0():
    # the filter is the QEMU driver's baseline; virCPUCompare still needs ht
    cpumap = resolve_map_spec("12.8.0")
    guest = parse_cpus("<cpu mode='custom' match='exact'><model>486</model>"
                       "<feature policy='require' name='ht'/></cpu>", "guest", cpumap)[0]
    host = parse_cpus("<cpu><arch>x86_64</arch><model>486</model></cpu>", "host", cpumap)[0]
    assert cpucompat.compare(guest, host, cpumap).result == "incompatible"


def test_qemu_driver_of_11_3_0_drops_the_vmx_controls_qemu_cannot_set():
    # libvirt 11.3.0 qemu_capabilities.c ignoredFeatures[]: vmx-ept-uc, vmx-ept-wb, vmx-invvpid-single-context
    xml = ("<cpu><arch>x86_64</arch><model>Skylake-Server</model><vendor>Intel</vendor>"
           "<feature name='vmx-ept-uc'/><feature name='vmx-ept-wb'/><feature name='vmx-invvpid-single-context'/>"
           "<feature name='vmx-ept-execonly'/></cpu>")
    for version in ("11.3.0", "12.8.0"):
        expanded = _expanded(xml, version)
        assert "vmx-ept-execonly" in expanded
        assert not {"vmx-ept-uc", "vmx-ept-wb", "vmx-invvpid-single-context"} & expanded


def test_qemu_driver_of_9_0_0_drops_the_cr4_mirrors_and_rdt_monitoring():
    # libvirt 9.0.0 qemu_capabilities.c virQEMUCapsCPUFilterFeatures
    expanded = _expanded("<cpu><arch>x86_64</arch><model>486</model><feature name='osxsave'/>"
                         "<feature name='cmt'/><feature name='ht'/></cpu>", "9.0.0")
    assert "ht" in expanded and not {"osxsave", "cmt"} & expanded
    assert qemu_filtered(resolve_map_spec("9.0.0")) == {"cmt", "mbm_total", "mbm_local", "osxsave", "ospke"}


def test_each_release_filters_a_superset_of_the_previous_one():
    for older, newer in zip(KNOWN_VERSIONS, KNOWN_VERSIONS[1:]):
        assert RULES[older].qemu_filtered < RULES[newer].qemu_filtered


@pytest.mark.parametrize("version", KNOWN_VERSIONS)
def test_every_known_release_has_an_embedded_map_whose_source_names_it(version):
    cpumap = resolve_map_spec(version)
    used = map_version(cpumap)
    assert (used.version, used.embedded, used.rules.version, used.note) == (version, True, version, None)
    assert (embedded_map_path(version) / "SOURCE").read_text().startswith(f"libvirt {version}\n")


def test_the_default_map_is_the_default_version():
    assert map_version(cpucompat.embedded_cpu_map()).version == DEFAULT_VERSION
    assert resolve_map_spec(None) is cpucompat.embedded_cpu_map()


def test_newer_maps_name_the_2023_26_cpus():
    assert "SapphireRapids" not in resolve_map_spec("9.0.0").x86.model_by_name
    assert {"SapphireRapids", "GraniteRapids", "EPYC-Genoa"} <= set(resolve_map_spec("11.3.0").x86.model_by_name)
    assert {"EPYC-Turin", "ClearwaterForest"} <= set(resolve_map_spec("12.8.0").x86.model_by_name)


def _copy(version: str, tmp_path, source: str | None):
    target = tmp_path / f"map-{version}"
    shutil.copytree(embedded_map_path(version), target)
    if source is None:
        (target / "SOURCE").unlink()
    else:
        (target / "SOURCE").write_text(source)
    return target


def test_a_map_of_an_unknown_version_is_read_with_the_nearest_older_releases_rules(tmp_path):
    used = map_version(cpucompat.load_cpu_map(_copy("11.3.0", tmp_path, "libvirt 12.1.0\n")))
    assert (used.version, used.embedded, used.rules.version) == ("12.1.0", False, "11.3.0")
    assert "nearest older known release's rules, libvirt 11.3.0" in used.note
    older = map_version(cpucompat.load_cpu_map(_copy("9.0.0", tmp_path, "libvirt 8.0.0 cpu_map\n")))
    assert older.rules.version == "9.0.0" and "older than every release" in older.note


def test_a_map_without_source_is_read_with_the_rules_of_the_newest_release_whose_models_it_defines(tmp_path):
    # an operator's /usr/share/libvirt/cpu_map has no SOURCE file
    used = map_version(cpucompat.load_cpu_map(_copy("12.8.0", tmp_path, None)))
    assert (used.version, used.rules.version) == (None, "12.8.0")
    assert "no SOURCE file" in used.note and used.to_dict()["path"] == str(tmp_path / "map-12.8.0")


def test_version_names_and_paths_are_told_apart():
    assert version_in("libvirt 12.8.0 cpu_map, as installed") == "12.8.0"
    assert version_in("no version here") is None
    assert rules_for("12.8.0") == (RULES["12.8.0"], None)
    with pytest.raises(InvalidCpuMap):
        resolve_map_spec("13.0.0")  # not embedded: read as a path, which does not exist
