"""Answers are cached on the map they were computed over."""
from __future__ import annotations

import shutil

import cpucompat
from cpucompat.engine.cpumap import default_cpu_map_path, load_cpu_map, resolve_map

GUEST = cpucompat.Cpu(model="Nehalem")
HOST = cpucompat.Cpu(model="Haswell", arch="x86_64")


def test_resolve_map_is_the_given_map_or_the_embedded_one():
    other = load_cpu_map(default_cpu_map_path() / "index.xml")
    assert resolve_map(None) is cpucompat.embedded_cpu_map()
    assert resolve_map(other) is other


def test_a_map_keeps_each_answer_it_computed_and_another_map_computes_its_own(tmp_path):
    calls = []

    def answer(cpu, cpumap):
        calls.append(cpumap)
        return cpu.model

    shutil.copytree(default_cpu_map_path(), tmp_path / "map")
    first = load_cpu_map(tmp_path / "map")
    assert first.cached(answer, 4)(GUEST, first) == "Nehalem"
    assert first.cached(answer, 4)(GUEST, first) == "Nehalem"
    assert calls == [first]
    (tmp_path / "map" / "index.xml").touch()  # a changed file: the map is loaded again, with empty caches
    second = load_cpu_map(tmp_path / "map")
    assert second is not first
    second.cached(answer, 4)(GUEST, second)
    assert calls == [first, second]


def test_map_caches_are_bounded():
    cpumap = load_cpu_map(None)

    def square(n):
        return n * n

    cached = cpumap.cached(square, 8)
    for n in range(100):
        assert cached(n) == n * n
    assert cached.cache_info().currsize == 8


def test_clear_caches_forgets_the_engine_answers_of_a_map_and_its_arches():
    cpumap = cpucompat.embedded_cpu_map()
    assert cpucompat.compare(GUEST, HOST, cpumap).result == "superset"
    from cpucompat.engine.compare import _compare
    from cpucompat.engine.cpu import _cpu_bits

    assert cpumap.cached(_compare, 1).cache_info().currsize >= 1
    assert cpumap.x86.cached(_cpu_bits, 1).cache_info().currsize >= 1
    cpumap.clear_caches()
    assert cpumap.cached(_compare, 1).cache_info().currsize == 0
    assert cpumap.x86.cached(_cpu_bits, 1).cache_info().currsize == 0
    assert cpucompat.compare(GUEST, HOST, cpumap).result == "superset"
