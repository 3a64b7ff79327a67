"""Compiled maps (engine/cpumap/compiled.py): the very same values as the
XML, and a cache that is never an error: read-only, corrupt, hostile,
shared by concurrent writers, or stale after a map file changed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from cpucompat.engine.cpumap import ArchMap, CpuMap, compiled, load_cpu_map, loader
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


def values(cpumap: CpuMap) -> dict:
    """Everything a map defines, as comparable values."""
    def arch(a: ArchMap) -> tuple:
        return (a.name, a.source, a.vendors, [(f.name, f.bit, f.migratable, f.data, f.aliases) for f in a.features],
                [tuple(getattr(m, field) for field in m.__slots__) for m in a.models],
                a.all_features, a.non_migratable, a.feature_aliases, a.decode_words,
                a.names(a.all_features), a.sorted_names(a.all_features))
    return {"source": cpumap.source, "layout": cpumap.layout, "version": cpumap.version,
            "arches": [arch(a) for a in cpumap.arches.values()]}


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
