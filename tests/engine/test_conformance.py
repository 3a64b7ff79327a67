"""libvirt 9.0.0's own CPU test cases (tests/cputest.c) through the library.

The cases and their expected results come from ../shared (MANIFEST.tsv);
a clone without ../shared skips this suite with a clear message.  As the
reference's Decisions say, baseline rows ignore the five features the QEMU
driver drops from baselines (cputest runs the bare CPU driver).
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

import cpucompat
from cpucompat.engine.decode import QEMU_FILTERED
from cpucompat.inputs.parse import cpu_from_element, read_cpuid_dumps, read_cpus
from cpucompat.inputs.qmp import read_qemu_models
from cpucompat.xmlsafe import parse_xml_fragments

import os

SHARED = Path(os.environ.get("CPUCOMPAT_SHARED", Path(__file__).resolve().parents[3] / "shared"))

DATA = SHARED / "libvirt-testdata" / "9.0.0"
MANIFEST = DATA / "MANIFEST.tsv"
QEMU_DROPS = QEMU_FILTERED


def _rows(*kinds: str) -> list:
    if not MANIFEST.exists():
        return [pytest.param(None, id="no-shared-data", marks=pytest.mark.skip(
            reason=f"conformance data not found at {DATA}: clone has no ../shared"))]
    with MANIFEST.open() as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["case_kind"] in kinds]
    return [pytest.param(r, id=f"{r['case_kind']}:{r['inputs']}>{r['expected_file']}") for r in rows]


@pytest.fixture(scope="module")
def map9():
    return cpucompat.load_cpu_map(SHARED / "cpu_maps" / "9.0.0")


def _expected(name: str, cpumap) -> cpucompat.Cpu:
    return read_cpus(DATA / name, cpumap)[0]


def _policy_sets(cpu: cpucompat.Cpu) -> tuple[set[str], set[str]]:
    required = {n for n, p in cpu.features if p not in ("disable", "forbid")}
    disabled = {n for n, p in cpu.features if p in ("disable", "forbid")}
    return required, disabled


@pytest.mark.parametrize("row", _rows("compare"))
def test_compare_matches_cputest(row, map9):
    host_file, guest_file = row["inputs"].split(";")
    if row["expected_result"] == "ERROR":
        with pytest.raises(cpucompat.CpuCompatError):
            host = read_cpus(DATA / host_file, map9)[0]
            guest = read_cpus(DATA / guest_file, map9)[0]
            cpucompat.compare(guest, host, map9)
        return
    host = read_cpus(DATA / host_file, map9)[0]
    guest = read_cpus(DATA / guest_file, map9)[0]
    assert cpucompat.compare(guest, host, map9).result.upper() == row["expected_result"]


def _baseline_inputs(row) -> list[cpucompat.Cpu]:
    cpus = []
    for name in row["inputs"].split(";"):
        text = (DATA / name).read_text()
        wrapper = parse_xml_fragments(text, name)
        cpus.extend(cpu_from_element(el, name) for el in wrapper.iter("cpu"))
    return cpus


@pytest.mark.parametrize("row", _rows("baseline", "cpuid-baseline"))
def test_baseline_matches_cputest(row, map9):
    cpus = _baseline_inputs(row)
    if row["expected_result"] == "ERROR":
        with pytest.raises(cpucompat.CpuCompatError):
            cpucompat.baseline(cpus, map9)
        return
    expected_file = row["expected_file"]
    result = cpucompat.baseline(cpus, map9, migratable=expected_file.endswith("-migratable.xml"))
    want = _expected(expected_file, map9)
    required, disabled = _policy_sets(want)
    if expected_file.endswith("-expanded.xml"):
        assert set(result.expanded) - QEMU_DROPS == required - QEMU_DROPS
        return
    assert result.model == want.model
    assert set(result.features) - QEMU_DROPS == required - QEMU_DROPS
    assert set(result.disabled) == disabled
    for cpu in cpus:  # libvirt's test also checks the result runs on every input
        assert cpucompat.compare(result.as_cpu(), cpu, map9).compatible


def _uses_qemu_models(row) -> bool:
    # cputest's JSON_MODELS / JSON_MODELS_REQUIRED rows: the guest decode is
    # limited to QEMU's query-cpu-definitions models, with their blockers
    return "allowed models = QEMU" in row["notes"] or "JSON_MODELS" in row["notes"]


@pytest.mark.parametrize("row", _rows("cpuid-host", "cpuid-guest"))
def test_decode_matches_cputest(row, map9):
    inputs = row["inputs"].split(";")
    dump = read_cpuid_dumps(DATA / inputs[0])[0]
    guest = row["case_kind"] == "cpuid-guest"
    models = read_qemu_models(DATA / inputs[1]) if guest and _uses_qemu_models(row) else None
    result = cpucompat.decode(dump, map9, guest=guest, models=models)
    want = _expected(row["expected_file"], map9)
    required, disabled = _policy_sets(want)
    assert result.model == want.model
    assert result.vendor == want.vendor
    assert set(result.features) == required
    assert set(result.disabled) == disabled
    if guest:
        assert result.fallback == want.fallback == "forbid"
    else:
        assert result.signature == want.signature


def test_every_qemu_models_row_has_its_qmp_reply():
    if not MANIFEST.exists():
        pytest.skip(f"conformance data not found at {DATA}: clone has no ../shared")
    rows = [r for r in csv.DictReader(MANIFEST.open(), delimiter="\t")
            if r["case_kind"] == "cpuid-guest" and _uses_qemu_models(r)]
    assert len(rows) == 26
    for row in rows:
        assert read_qemu_models(DATA / row["inputs"].split(";")[1]).names


def test_every_case_kind_we_claim_is_present():
    if not MANIFEST.exists():
        pytest.skip(f"conformance data not found at {DATA}: clone has no ../shared")
    kinds = {r["case_kind"] for r in csv.DictReader(MANIFEST.open(), delimiter="\t")}
    assert {"compare", "baseline", "cpuid-baseline", "cpuid-host", "cpuid-guest"} <= kinds
