"""Loading libvirt's cpu_map in every layout it has shipped."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

import cpucompat
from cpucompat import InvalidCpuMap, UnknownArch, UnknownFeature, UnknownModel
from cpucompat.engine.cpumap import default_cpu_map_path, loader

DATA = Path(__file__).resolve().parents[1] / "data"
LEGACY = DATA / "legacy" / "cpu_map.xml"

HAND_WRITTEN_LEGACY = """<cpus>
  <arch name='x86'>
    <vendor name='Intel' string='GenuineIntel'/>
    <feature name='fpu'><cpuid function='0x00000001' edx='0x00000001'/></feature>
    <feature name='sse4.1'><cpuid function='0x00000001' ecx='0x00080000'/></feature>
    <feature name='sse4.2'><cpuid function='0x00000001' ecx='0x00100000'/></feature>
    <feature name='popcnt'><cpuid function='0x00000001' ecx='0x00800000'/></feature>
    <feature name='cx16'><cpuid function='0x00000001' ecx='0x00002000'/></feature>
    <model name='Conroe'><vendor name='Intel'/><feature name='fpu'/></model>
    <model name='Penryn'><model name='Conroe'/><feature name='cx16'/><feature name='sse4.1'/></model>
    <model name='Nehalem'><model name='Penryn'/><feature name='sse4.2'/><feature name='popcnt'/></model>
  </arch>
  <arch name='ppc64'>
    <vendor name='IBM'/>
    <model name='POWER7'><vendor name='IBM'/><pvr value='0x003f0000'/></model>
  </arch>
</cpus>
"""


def test_embedded_map_is_libvirt_9_0_0(cpumap):
    assert cpumap.layout == "split"
    assert cpumap.version == "libvirt 9.0.0"
    assert len(cpumap.x86.models) == 58
    assert len(cpumap.x86.features) == 212
    assert set(cpumap.arches) == {"x86", "ppc64", "arm"}


def test_models_keep_map_order_which_is_decode_order(x86):
    names = [m.name for m in x86.models]
    assert names[0] == "486"
    assert names.index("Nehalem") < names.index("Haswell") < names.index("Icelake-Server")


def test_features_get_bits_in_feature_file_order(x86):
    assert [f.bit for f in x86.features] == list(range(len(x86.features)))
    assert x86.features[0].name == "fpu"
    assert x86.names(x86.bits(["sse4.2", "fpu"])) == ["fpu", "sse4.2"]


def test_only_invtsc_and_xsaves_are_non_migratable(x86):
    assert set(x86.names(x86.non_migratable)) == {"invtsc", "xsaves"}


def test_msr_features_are_read(x86):
    data = x86.feature("mds-no").data[0]
    assert (data.kind, data.leaf, data.register, data.mask) == ("msr", 0x10A, "eax", 0x20)


def test_signatures_with_stepping_ranges(x86):
    sig = x86.model("Skylake-Server").signatures[0]
    assert (sig.family, sig.model, sig.steppings) == (6, 85, frozenset(range(5)))
    assert x86.model("Cascadelake-Server").signature_matches(6, 85, 7)
    assert not x86.model("Cascadelake-Server").signature_matches(6, 85, 4)


def test_decode_flags(x86):
    assert not x86.model("cpu64-rhel5").decode_host
    assert x86.model("Skylake-Client-noTSX-IBRS").decode_host
    assert not x86.model("Skylake-Client-noTSX-IBRS").decode_guest


def test_other_arches_have_models_and_feature_names(cpumap):
    assert "POWER9" in cpumap.arch("ppc64le").model_by_name
    assert cpumap.arch("ppc64").model("POWER8").pvr[0] == (0x004B0000, 0xFFFF0000)
    arm = cpumap.arch("aarch64")
    assert arm.model("Neoverse-N1").vendor == "ARM"
    assert "sve512" in arm.feature_by_name


def test_unknown_arch_names_the_map(cpumap):
    with pytest.raises(UnknownArch, match="s390x"):
        cpumap.arch("s390x")


def test_unknown_names_say_which_map_and_suggest(x86):
    with pytest.raises(UnknownModel, match=r"Haswel.*cpu_maps.*did you mean: Haswell"):
        x86.model("Haswel")
    with pytest.raises(UnknownFeature, match=r"avx3.*did you mean"):
        x86.feature("avx3")


def test_model_lookup_is_case_insensitive_like_nova(x86):
    assert x86.model("haswell-notsx").name == "Haswell-noTSX"


def test_map_11_3_canonical_aliases_removed_and_added(map_11):
    x86 = map_11.x86
    assert len(x86.models) == 150
    assert x86.model("Broadwell-v3").alias_of == "Broadwell-IBRS"
    assert x86.model("Broadwell-IBRS").canonical == "Broadwell-v3"
    assert x86.model("Broadwell-v3").features == x86.model("Broadwell-IBRS").features
    skylake = x86.model("Skylake-Client")
    assert "mpx" in x86.names(skylake.removed)
    assert not skylake.features & skylake.removed
    assert skylake.added and not skylake.features & skylake.added
    assert skylake.group == "Intel CPU models"
    assert skylake.check_partial_compat


def test_map_11_3_removed_features_are_disabled_in_guest_expansion(map_11):
    cpu = cpucompat.Cpu(model="Skylake-Client", vendor="Intel", arch="x86_64")
    result = cpucompat.expand(cpu, map_11)
    assert "mpx" in result.disabled and "mpx" not in result.expanded


def test_legacy_single_file_with_inheritance(tmp_path):
    path = tmp_path / "cpu_map.xml"
    path.write_text(HAND_WRITTEN_LEGACY)
    legacy = cpucompat.load_cpu_map(path)
    x86 = legacy.x86
    assert legacy.layout == "legacy"
    assert x86.model("Nehalem").parent == "Penryn"
    assert set(x86.names(x86.model("Nehalem").features)) == {"fpu", "cx16", "sse4.1", "sse4.2", "popcnt"}
    assert x86.model("Nehalem").vendor == "Intel"  # inherited with the data
    assert legacy.arch("ppc64").model("POWER7").vendor == "IBM"


def test_legacy_form_of_the_embedded_map_has_the_same_models(cpumap):
    legacy = cpucompat.load_cpu_map(LEGACY)
    assert legacy.layout == "legacy"
    assert sum(1 for m in legacy.x86.models if m.parent) > 40
    for model in cpumap.x86.models:
        twin = legacy.x86.model(model.name)
        assert (twin.features, twin.vendor, twin.signatures, twin.removed) == (
            model.features, model.vendor, model.signatures, model.removed)


def test_a_directory_holding_a_legacy_file_loads(tmp_path):
    (tmp_path / "cpu_map.xml").write_text(HAND_WRITTEN_LEGACY)
    assert cpucompat.load_cpu_map(tmp_path).layout == "legacy"


def test_maps_are_cached_per_path():
    default = cpucompat.load_cpu_map(None)
    assert cpucompat.load_cpu_map(None) is default
    assert cpucompat.load_cpu_map(default_cpu_map_path()) is default


def test_every_spelling_of_a_map_path_is_one_map_named_as_pathlib_spells_it(tmp_path, monkeypatch):
    (tmp_path / "map").mkdir()
    (tmp_path / "map" / "cpu_map.xml").write_text(HAND_WRITTEN_LEGACY)
    (tmp_path / "link").symlink_to(tmp_path / "map")
    monkeypatch.chdir(tmp_path)
    cpumap = cpucompat.load_cpu_map(tmp_path / "map")
    assert cpumap.source == str(tmp_path / "map" / "cpu_map.xml")
    for spelling in (f"{tmp_path}//map/./", "map", "./map/cpu_map.xml", "link", tmp_path / "link" / "cpu_map.xml"):
        assert cpucompat.load_cpu_map(spelling) is cpumap, spelling
    loader._cache.clear()  # a map keeps the name it was first loaded by
    assert cpucompat.load_cpu_map("map/../map").source == "map/../map/cpu_map.xml"  # '..' kept, as pathlib does


@pytest.mark.parametrize("spelling", ["/a//b/./c/", "a/./b", ".", "./", "//a/b", "///a/b", "//", "/", "a/../b"])
def test_a_map_path_is_named_as_pathlib_names_it(spelling):
    assert loader._plain(spelling) == str(PurePosixPath(spelling))


@pytest.mark.parametrize("path, problem", [("a\0b", "embedded null byte"), ("", "is empty")])
def test_an_impossible_map_path_is_one_clear_error(path, problem):
    with pytest.raises(cpucompat.InvalidCpuMap, match=problem):
        cpucompat.load_cpu_map(path)


@pytest.mark.parametrize("body, message", [
    ("<cpus><arch name='x86'><include filename='x86_missing.xml'/></arch></cpus>", "x86_missing.xml"),
    ("<cpus><arch name='x86'><model name='A'><model name='Nope'/></model></arch></cpus>", "ancestor model Nope"),
    ("<cpus><arch name='x86'><vendor name='Intel' string='Genuine'/></arch></cpus>", "12-character"),
    ("<cpus><arch name='x86'><feature name='a'><cpuid eax_in='1' ecx='1'/></feature>"
     "<feature name='a'><cpuid eax_in='1' ecx='2'/></feature></arch></cpus>", "already defined"),
    ("<cpus><arch name='x86'><model name='A'><feature name='zz'/></model></arch></cpus>", "feature zz"),
    ("<notcpus/>", "expected <cpus>"),
    ("<cpus><arch name='x86'>", "not well-formed"),
])
def test_broken_maps_are_refused_naming_the_file_and_problem(tmp_path, body, message):
    (tmp_path / "index.xml").write_text(body)
    with pytest.raises(InvalidCpuMap, match=message) as info:
        cpucompat.load_cpu_map(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_missing_map_path_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidCpuMap, match="cannot read"):
        cpucompat.load_cpu_map(tmp_path / "nowhere")


def test_a_directory_without_a_map_says_which_files_it_lacks(tmp_path):
    with pytest.raises(InvalidCpuMap, match="neither index.xml .* nor cpu_map.xml") as info:
        cpucompat.load_cpu_map(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_a_map_in_use_stays_cached_while_many_others_come_and_go(tmp_path):
    def tiny_map(n: int) -> Path:
        path = tmp_path / f"map{n}.xml"
        path.write_text(f"<cpus><arch name='x86'><feature name='f{n}'><cpuid eax_in='1' ecx='1'/></feature>"
                        "</arch></cpus>")
        return path

    kept = cpucompat.load_cpu_map(tiny_map(0))
    for n in range(1, 40):
        cpucompat.load_cpu_map(tiny_map(n))
        assert cpucompat.load_cpu_map(tmp_path / "map0.xml") is kept


@pytest.mark.parametrize("dump, host_model_name, guest_model_name", [
    ("Xeon-E5-2650-v4", "Broadwell-v1", "Broadwell"),
    ("Core-i7-4600U", "Haswell-v2", "Haswell-noTSX"),
    ("Core-i5-6600", "Skylake-Client-v1", "Skylake-Client"),
    ("Xeon-Platinum-8268", "Cascadelake-Server-v1", "Cascadelake-Server"),
])
def test_map_11_3_host_cpus_take_the_vN_alias_and_guests_never_do(map_11, testdata_9, dump, host_model_name,
                                                                   guest_model_name):
    """libvirt 11.3 capabilities say Broadwell-v1 &c. (the alias is data-identical,
    later in the map, so visited first); -vN models have guest='off'."""
    cpuid = cpucompat.read_cpuid_dumps(testdata_9 / f"x86_64-cpuid-{dump}.xml")[0]
    assert cpucompat.decode(cpuid, map_11).model == host_model_name
    assert cpucompat.decode(cpuid, map_11, guest=True).model == guest_model_name


def test_find_model_is_exact_then_case_insensitive_and_none_when_absent(cpumap):
    x86 = cpumap.x86
    assert x86.find_model("Haswell").name == "Haswell"
    assert x86.find_model("haswell-notsx").name == "Haswell-noTSX"
    assert x86.find_model("Haswel") is None
    assert cpumap.find_model("power9").name == "POWER9"
    assert cpumap.find_model("no such model") is None


def test_no_cpumap_module_is_over_400_lines():
    from cpucompat.engine import cpumap as package

    for module in Path(package.__file__).parent.glob("*.py"):
        assert len(module.read_text().splitlines()) <= 400, module.name

