"""Compiled maps (engine/cpumap/compiled.py): the very same values as the
XML, and a cache that is never an error: read-only, corrupt, hostile,
shared by concurrent writers, or stale after a map file changed.  Their
arches are built on first use (archmap.py's `Arches`): an x86 command never
builds ppc64 or arm, an arch built later answers as an eagerly loaded one,
and a map stays one value whichever thread touches an arch first."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest

import cpucompat
from cpucompat.engine.cpumap import ArchMap, CpuMap, compiled, compiledarch, load_cpu_map, loader
from cpucompat.engine.cpumap.files import MapFiles
from cpucompat.engine.maps import embedded_map_path
from cpucompat.engine.releases import KNOWN_VERSIONS

LEGACY = Path(__file__).resolve().parent.parent / "data" / "legacy" / "cpu_map.xml"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("CPUCOMPAT_CACHE_DIR", str(directory))
    loader._cache.clear()
    yield directory
    loader._cache.clear()


def load_fresh(path) -> CpuMap:
    """Load as a new process would (nothing kept in this one)."""
    loader._cache.clear()
    return load_cpu_map(path)


def load_compiled_only(path, monkeypatch) -> CpuMap:
    """Load, failing if the XML would be read (the compiled form must serve)."""
    def no_xml(*args):
        raise AssertionError("the map's XML was read")

    with monkeypatch.context() as patch:
        patch.setattr(loader, "_load", no_xml)
        return load_fresh(path)


def the_one_file(cache: Path) -> Path:
    files = list(cache.glob("map-*.json"))
    assert len(files) == 1, files
    return files[0]


def arch_values(a: ArchMap) -> tuple:
    """Everything one arch of a map defines, as comparable values."""
    return (a.name, a.source, a.vendors, [(f.name, f.bit, f.migratable, f.data, f.aliases) for f in a.features],
            [tuple(getattr(m, field) for field in m.__slots__) for m in a.models],
            a.all_features, a.non_migratable, a.feature_aliases, a.decode_words,
            a.names(a.all_features), a.sorted_names(a.all_features))


def values(cpumap: CpuMap) -> dict:
    """Everything a map defines, as comparable values."""
    return {"source": cpumap.source, "layout": cpumap.layout, "version": cpumap.version,
            "arches": [arch_values(a) for a in cpumap.arches.values()]}


@pytest.mark.parametrize("where", [*KNOWN_VERSIONS, "legacy"])
def test_compiled_map_has_the_very_same_values_as_its_xml(where, cache, monkeypatch):
    path = LEGACY if where == "legacy" else embedded_map_path(where)
    monkeypatch.setenv("CPUCOMPAT_CACHE_DIR", "")  # no cache: from the XML
    from_xml = load_fresh(path)
    assert not cache.exists()
    monkeypatch.setenv("CPUCOMPAT_CACHE_DIR", str(cache))
    load_fresh(path)  # from the XML, compiled for next time
    from_cache = load_compiled_only(path, monkeypatch)
    assert from_cache is not from_xml
    assert values(from_cache) == values(from_xml)
    x86 = from_cache.x86
    assert len(x86.models) > 30 and len(x86.features) > 100  # the comparison compared something


def test_the_cache_directory_is_private_and_holds_one_file_per_map(cache):
    load_fresh(embedded_map_path(KNOWN_VERSIONS[0]))
    file = the_one_file(cache)
    assert cache.stat().st_mode & 0o777 == 0o700
    assert file.read_bytes().startswith(b"cpucompat-compiled-map %d " % compiled.FORMAT)
    load_fresh(embedded_map_path(KNOWN_VERSIONS[0]))  # a hit writes nothing new
    assert the_one_file(cache) == file


def test_an_unwritable_cache_directory_only_means_no_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("CPUCOMPAT_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even by root
    expected = values(load_fresh(LEGACY))
    assert values(load_fresh(LEGACY)) == expected
    if os.geteuid() != 0:  # root writes into a read-only directory all the same
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o500)
        monkeypatch.setenv("CPUCOMPAT_CACHE_DIR", str(readonly))
        assert values(load_fresh(LEGACY)) == expected
        assert not list(readonly.iterdir())


def test_a_cache_directory_others_may_write_is_not_used(cache):
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)
    load_fresh(LEGACY)
    assert not list(cache.iterdir())


def _rewrite_json(file: Path, change) -> None:
    """Change the JSON of a compiled map and give it a matching CRC (so
    that only the validation of its values can refuse it)."""
    header, _, body = file.read_bytes().partition(b"\n")
    value = json.loads(body)
    change(value)
    body = json.dumps(value).encode()
    file.write_bytes(b"cpucompat-compiled-map %d %08x\n" % (compiled.FORMAT, zlib.crc32(body)) + body)


def _x86(value: dict) -> dict:
    return next(a for a in value["arches"] if a["name"] == "x86")


HOSTILE = {
    "truncated": lambda f: f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2]),
    "one byte changed": lambda f: f.write_bytes(f.read_bytes().replace(b'"x86"', b'"x87"', 1)),
    "empty": lambda f: f.write_bytes(b""),
    "garbage": lambda f: f.write_bytes(os.urandom(4096)),
    "not JSON, right CRC": lambda f: f.write_bytes(b"cpucompat-compiled-map %d %08x\n{" % (
        compiled.FORMAT, zlib.crc32(b"{"))),
    "a mask past the features": lambda f: _rewrite_json(f, lambda v: _x86(v)["models"][0].__setitem__(
        1, "f" * 200)),
    "an unknown parent": lambda f: _rewrite_json(f, lambda v: _x86(v)["models"][-1].__setitem__(9, "Nowhere")),
    "a string for a number": lambda f: _rewrite_json(f, lambda v: _x86(v)["features"][0][2][0].__setitem__(1, "1")),
    "a feature twice": lambda f: _rewrite_json(f, lambda v: _x86(v)["features"].append(_x86(v)["features"][0])),
    "a deep list": lambda f: _rewrite_json(f, lambda v: v.__setitem__("arches", [[[[[[]]]]]])),
    "another map's index": lambda f: _rewrite_json(f, lambda v: v.__setitem__("index", "/etc/elsewhere.xml")),
    "too big": lambda f: f.write_bytes(b" " * (compiled.MAX_COMPILED_BYTES + 1)),
    "a symbolic link": lambda f: (f.rename(f.with_name("real")), f.symlink_to(f.with_name("real"))),
    "group-writable": lambda f: f.chmod(0o664),
    "a directory": lambda f: (f.unlink(), f.mkdir()),
    "a FIFO": lambda f: (f.unlink(), os.mkfifo(f)),
}


@pytest.mark.parametrize("damage", HOSTILE, ids=list(HOSTILE))
def test_a_corrupt_or_hostile_cache_file_is_ignored_and_replaced(damage, cache, monkeypatch):
    expected = values(load_fresh(LEGACY))
    file = the_one_file(cache)
    HOSTILE[damage](file)
    assert values(load_fresh(LEGACY)) == expected  # from the XML, no error
    if damage not in ("a directory", "a FIFO"):  # replaced by a good one (a directory or FIFO stays in its way)
        assert values(load_compiled_only(LEGACY, monkeypatch)) == expected


def test_a_cache_file_of_another_user_is_ignored(cache):
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    expected = values(load_fresh(LEGACY))
    file = the_one_file(cache)
    _rewrite_json(file, lambda v: _x86(v)["features"][0].__setitem__(0, "planted"))
    assert load_fresh(LEGACY).x86.features[0].name == "planted"  # a file of this user's is believed...
    os.chown(file, 65534, 65534)
    assert values(load_fresh(LEGACY)) == expected  # ... another's is not


def test_a_map_loaded_compiled_imports_no_module_only_its_xml_needs(tmp_path, cache):
    """pathlib (with urllib), threading, hashlib, lxml: milliseconds of a
    one-shot command's start-up, needed only to read and compile the XML."""
    code = ("import sys; from cpucompat.engine.cpumap import load_cpu_map; m = load_cpu_map(); "
            "print(m.x86.names(m.x86.model('Nehalem').features)[:2], "
            "[name for name in ('pathlib', 'threading', 'hashlib', 'lxml') if name in sys.modules])")
    env = {**os.environ, "CPUCOMPAT_CACHE_DIR": str(cache), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}

    def run() -> str:  # without site hooks (a .pth file may import pathlib before any cpucompat code)
        proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.strip()

    first = run()  # reads and compiles the XML
    x86 = load_fresh(None).x86
    names = x86.names(x86.model("Nehalem").features)[:2]
    assert len(names) == 2
    assert first == f"{names} ['pathlib', 'hashlib', 'lxml']"
    assert run() == f"{names} []"


@pytest.mark.parametrize("files", [[], [["/a", [1, 2, 3, 4, 5, 6]]], [["/a", [-1]]], [["/a", [1 << 65]]],
                                   [["/a", ["1"]]], [["/a", [True]]], [[7, [1]]], [["/a" * 3000, [1]]],
                                   [["/a", (1,)]], "/a"])
def test_file_stamps_of_the_wrong_shape_are_refused(files):
    """(An fd number as a path would have the freshness check stat an open file.)"""
    assert compiled._stamps([["/a", [1, 2, 3, 4, 5]], ["/b", []]]) == (("/a", (1, 2, 3, 4, 5)), ("/b", ()))
    with pytest.raises(compiledarch.Invalid):
        compiled._stamps(files)


def _copy_of_map(tmp_path: Path) -> Path:
    copy = tmp_path / "map"
    shutil.copytree(embedded_map_path(KNOWN_VERSIONS[0]), copy)
    return copy


def test_a_map_file_changed_after_compiling_is_read_again(tmp_path, cache, monkeypatch):
    copy = _copy_of_map(tmp_path)
    before = load_fresh(copy)
    model = next(m for m in before.x86.models if m.name == "Nehalem")
    model_file = copy / "x86_Nehalem.xml"
    text = model_file.read_text()
    assert "<feature name='popcnt'/>" in text and before.x86.feature_by_name["popcnt"].mask & model.features
    model_file.write_text(text.replace("<feature name='popcnt'/>", ""))
    after = load_fresh(copy)
    assert not after.x86.model_by_name["Nehalem"].features & after.x86.feature_by_name["popcnt"].mask
    assert values(load_compiled_only(copy, monkeypatch)) == values(after)  # compiled again


def test_a_source_file_added_after_compiling_changes_the_version(tmp_path, cache):
    copy = _copy_of_map(tmp_path)
    (copy / "SOURCE").unlink()
    assert load_fresh(copy).version is None
    (copy / "SOURCE").write_text("libvirt 1.2.3\n")
    assert load_fresh(copy).version == "libvirt 1.2.3"


def test_files_with_new_stamps_but_the_same_content_keep_their_compiled_map(tmp_path, cache, monkeypatch):
    copy = _copy_of_map(tmp_path)
    expected = values(load_fresh(copy))
    for file in copy.iterdir():  # as a reinstall does: new inodes, same bytes
        data = file.read_bytes()
        file.unlink()
        file.write_bytes(data)
    assert values(load_compiled_only(copy, monkeypatch)) == expected
    restamped = the_one_file(cache).read_bytes()
    assert values(load_compiled_only(copy, monkeypatch)) == expected
    assert the_one_file(cache).read_bytes() == restamped  # the new stamps were recorded once


def test_concurrent_processes_share_one_cache(tmp_path, cache):
    copy = _copy_of_map(tmp_path)
    code = ("import sys; from cpucompat.engine.cpumap import load_cpu_map; "
            "m = load_cpu_map(sys.argv[1]); print(len(m.x86.models), m.x86.all_features)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(copy)], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path, env={**os.environ, "CPUCOMPAT_CACHE_DIR": str(cache)})
             for _ in range(8)]
    outputs = {proc.communicate(timeout=300)[0] for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    expected = load_fresh(copy)
    assert outputs == {f"{len(expected.x86.models)} {expected.x86.all_features}\n"}
    the_one_file(cache)  # one whole file, no temporaries left behind
    assert [p.name for p in cache.iterdir()] == [the_one_file(cache).name]


def test_the_cache_keeps_only_the_newest_maps(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(compiled, "MAX_CACHED_MAPS", 3)
    for n in range(5):
        shutil.copy(LEGACY, tmp_path / f"map{n}.xml")
        load_fresh(tmp_path / f"map{n}.xml")
    assert len(list(cache.glob("map-*.json"))) == 3


# -- arches built on first use ---------------------------------------------------

VERSION = KNOWN_VERSIONS[-1]


def built(cpumap: CpuMap) -> list[str]:
    return [archmap.name for archmap in cpumap.arches.built()]


def eager() -> CpuMap:
    """The same map read from its XML, every arch built at once."""
    cpumap = loader._load(embedded_map_path(VERSION) / "index.xml", MapFiles())
    assert built(cpumap) == list(cpumap.arches)
    return cpumap


HOST = cpucompat.Cpu(model="Skylake-Client-noTSX-IBRS", vendor="Intel", arch="x86_64",
                     features=(("avx512f", "require"),))
GUEST = cpucompat.Cpu(model="Icelake-Server", features=(("pcid", "require"), ("tsx-ctrl", "disable")))


def x86_answers(cpumap: CpuMap) -> tuple:
    comparison = cpucompat.compare(GUEST, HOST, cpumap)
    return (comparison.result, comparison.missing, comparison.forbidden,
            cpucompat.baseline([HOST, cpucompat.Cpu(model="Nehalem", vendor="Intel")], cpumap),
            cpucompat.host_model(HOST, cpumap), cpumap.x86.sorted_names(cpumap.x86.model("Icelake-Server").features))


@pytest.fixture
def compiled_map(cache) -> Path:
    """The cache holding the compiled form of the newest embedded map."""
    load_fresh(embedded_map_path(VERSION))  # from the XML, compiled for the test
    return cache


def test_an_x86_answer_builds_only_x86_and_matches_an_eager_map(compiled_map, monkeypatch):
    lazy = load_compiled_only(embedded_map_path(VERSION), monkeypatch)
    assert built(lazy) == []
    assert list(lazy.arches) == ["x86", "ppc64", "arm"] and len(lazy.arches) == 3  # names without building
    assert "ppc64" in lazy.arches and "s390" not in lazy.arches
    answers = x86_answers(lazy)
    assert built(lazy) == ["x86"]
    assert answers == x86_answers(eager())
    assert answers[0] == "incompatible" and answers[1]  # the comparison compared something


@pytest.mark.parametrize("arch, model, other", [("ppc64le", "POWER9", "POWER8"),
                                                ("aarch64", "cortex-a57", "Neoverse-N1")])
def test_an_arch_touched_later_answers_as_an_eager_load(arch, model, other, compiled_map, monkeypatch):
    lazy = load_compiled_only(embedded_map_path(VERSION), monkeypatch)
    x86_answers(lazy)
    reference = eager()
    assert arch_values(lazy.arch(arch)) == arch_values(reference.arch(arch))
    assert built(lazy) == ["x86", lazy.arch(arch).name]
    host = cpucompat.Cpu(model=model, arch=arch)
    answers = [cpucompat.compare(guest, host, lazy)
               for guest in (cpucompat.Cpu(model=model, arch=arch), cpucompat.Cpu(model=other, arch=arch))]
    assert [a.result for a in answers] == ["identical", "incompatible"]
    assert answers == [cpucompat.compare(guest, host, reference)
                       for guest in (cpucompat.Cpu(model=model, arch=arch), cpucompat.Cpu(model=other, arch=arch))]
    assert [arch_values(a) for a in lazy.arches.values()] == [arch_values(a) for a in reference.arches.values()]


def test_a_lazy_map_is_one_value_with_one_arch_each_and_its_caches(compiled_map, monkeypatch):
    cpumap = load_compiled_only(embedded_map_path(VERSION), monkeypatch)
    assert load_cpu_map(embedded_map_path(VERSION)) is cpumap and cpumap == cpumap and hash(cpumap) == hash(cpumap)
    assert cpumap.x86 is cpumap.arch("x86_64") is cpumap.arches["x86"] is cpumap.arches.get("x86")
    first = cpucompat.host_model(HOST, cpumap)
    assert cpucompat.host_model(HOST, cpumap) is first  # cached on the map
    cpumap.clear_caches()  # builds nothing to clear it
    assert built(cpumap) == ["x86"]
    assert cpucompat.host_model(HOST, cpumap) == first and cpucompat.host_model(HOST, cpumap) is not first
    with pytest.raises(KeyError):
        cpumap.arches["s390"]
    with pytest.raises(cpucompat.UnknownArch, match="has: x86, ppc64, arm"):
        cpumap.arch("s390x")
    assert cpumap.find_model("POWER9").arch == "ppc64"  # a name no x86 model has: the arches that have it


def test_threads_touching_an_arch_at_once_share_one_archmap(compiled_map):
    cpumap = load_fresh(embedded_map_path(VERSION))
    assert built(cpumap) == []  # compiled: nothing built yet
    start = threading.Barrier(8)
    seen: list[ArchMap] = []

    def touch() -> None:
        start.wait()
        seen.append(cpumap.arch("aarch64"))

    threads = [threading.Thread(target=touch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(archmap is seen[0] for archmap in seen)


def test_an_arch_whose_compiled_values_fail_a_check_comes_from_the_xml(compiled_map, monkeypatch):
    path = embedded_map_path(VERSION)
    reference = eager()
    _rewrite_json(the_one_file(compiled_map), lambda v: next(a for a in v["arches"] if a["name"] == "arm")[
        "models"][0].__setitem__(1, "f" * 200))  # a mask past arm's features
    lazy = load_compiled_only(path, monkeypatch)  # the damage is in an arch not yet built
    assert x86_answers(lazy) == x86_answers(reference)
    reads = []
    real_load = loader._load
    with monkeypatch.context() as patch:
        patch.setattr(loader, "_load", lambda *args: reads.append(args) or real_load(*args))
        assert arch_values(lazy.arch("arm")) == arch_values(reference.arch("arm"))  # from the XML, no error
    assert len(reads) == 1
    again = load_compiled_only(path, monkeypatch)  # the compiled form was rewritten whole
    assert arch_values(again.arch("arm")) == arch_values(reference.arch("arm"))
