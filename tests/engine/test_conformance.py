"""libvirt 9.0.0's and 11.3.0's own CPU test cases (tests/cputest.c) through
the library, each release's cases with cpucompat's embedded map of that release.

The cases and their expected results come from ../shared (MANIFEST.tsv);
a clone without ../shared skips this suite with a clear message.  As the
reference's Decisions say, baseline rows ignore the features the release's
QEMU driver drops from baselines (cputest runs the bare CPU driver).
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

import cpucompat
from cpucompat.engine.maps import qemu_filtered, resolve_map_spec
from cpucompat.inputs.parse import cpu_from_element, read_cpuid_dumps, read_cpus
from cpucompat.inputs.qmp import read_qemu_models
from cpucompat.xmlsafe import parse_xml_fragments

import os

SHARED = Path(os.environ.get("CPUCOMPAT_SHARED", Path(__file__).resolve().parents[3] / "shared"))

RELEASES = ("9.0.0", "11.3.0")  # libvirt releases whose cputest data ../shared holds


def _data(version: str) -> Path:
    return SHARED / "libvirt-testdata" / version


def _rows(*kinds: str) -> list:
    params = []
    for version in RELEASES:
        manifest = _data(version) / "MANIFEST.tsv"
        if not manifest.exists():
            params.append(pytest.param(None, id=f"{version}:no-shared-data", marks=pytest.mark.skip(
                reason=f"conformance data not found at {_data(version)}: clone has no ../shared")))
            continue
        with manifest.open() as handle:
            rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["case_kind"] in kinds]
        params += [pytest.param(dict(r, version=version),
                                id=f"{version}:{r['case_kind']}:{r['inputs']}>{r['expected_file']}")
                   for r in rows]
    return params


class Case:
    """One row with its release's data directory and embedded map."""

    def __init__(self, row: dict) -> None:
        self.row = row
        self.data = _data(row["version"])
        self.cpumap = resolve_map_spec(row["version"])
        self.drops = qemu_filtered(self.cpumap)

    def expected(self, name: str) -> cpucompat.Cpu:
        return read_cpus(self.data / name, self.cpumap)[0]


def _policy_sets(cpu: cpucompat.Cpu) -> tuple[set[str], set[str]]:
    required = {n for n, p in cpu.features if p not in ("disable", "forbid")}
    disabled = {n for n, p in cpu.features if p in ("disable", "forbid")}
    return required, disabled


@pytest.mark.parametrize("row", _rows("compare"))
def test_compare_matches_cputest(row):
    case = Case(row)
    data, cpumap = case.data, case.cpumap
    host_file, guest_file = row["inputs"].split(";")
    if row["expected_result"] == "ERROR":
        with pytest.raises(cpucompat.CpuCompatError):
            host = read_cpus(data / host_file, cpumap)[0]
            guest = read_cpus(data / guest_file, cpumap)[0]
            cpucompat.compare(guest, host, cpumap)
        return
    host = read_cpus(data / host_file, cpumap)[0]
    guest = read_cpus(data / guest_file, cpumap)[0]
    assert cpucompat.compare(guest, host, cpumap).result.upper() == row["expected_result"]


def _baseline_inputs(case: Case) -> list[cpucompat.Cpu]:
    cpus = []
    for name in case.row["inputs"].split(";"):
        text = (case.data / name).read_text()
        wrapper = parse_xml_fragments(text, name)
        cpus.extend(cpu_from_element(el, name) for el in wrapper.iter("cpu"))
    return cpus


@pytest.mark.parametrize("row", _rows("baseline", "cpuid-baseline"))
def test_baseline_matches_cputest(row):
    case = Case(row)
    cpumap, drops = case.cpumap, case.drops
    cpus = _baseline_inputs(case)
    if row["expected_result"] == "ERROR":
        with pytest.raises(cpucompat.CpuCompatError):
            cpucompat.baseline(cpus, cpumap)
        return
    expected_file = row["expected_file"]
    result = cpucompat.baseline(cpus, cpumap, migratable=expected_file.endswith("-migratable.xml"))
    want = case.expected(expected_file)
    required, disabled = _policy_sets(want)
    if expected_file.endswith("-expanded.xml"):
        assert set(result.expanded) - drops == required - drops
        return
    assert result.model == want.model
    assert set(result.features) - drops == required - drops
    assert set(result.disabled) == disabled
    for cpu in cpus:  # libvirt's test also checks the result runs on every input
        assert cpucompat.compare(result.as_cpu(), cpu, cpumap).compatible


def _uses_qemu_models(row) -> bool:
    # cputest's JSON_MODELS / JSON_MODELS_REQUIRED rows: the guest decode is
    # limited to QEMU's query-cpu-definitions models, with their blockers
    return "allowed models = QEMU" in row["notes"] or "JSON_MODELS" in row["notes"]


@pytest.mark.parametrize("row", _rows("cpuid-host", "cpuid-guest"))
def test_decode_matches_cputest(row):
    case = Case(row)
    data, cpumap = case.data, case.cpumap
    inputs = row["inputs"].split(";")
    dump = read_cpuid_dumps(data / inputs[0])[0]
    guest = row["case_kind"] == "cpuid-guest"
    models = read_qemu_models(data / inputs[1]) if guest and _uses_qemu_models(row) else None
    result = cpucompat.decode(dump, cpumap, guest=guest, models=models)
    want = case.expected(row["expected_file"])
    required, disabled = _policy_sets(want)
    assert result.model == want.model
    assert result.vendor == want.vendor
    assert set(result.features) == required
    assert set(result.disabled) == disabled
    if guest:
        assert result.fallback == want.fallback == "forbid"
    else:
        assert result.signature == want.signature


@pytest.mark.parametrize("version", RELEASES)
def test_every_qemu_models_row_has_its_qmp_reply(version):
    data = _data(version)
    if not (data / "MANIFEST.tsv").exists():
        pytest.skip(f"conformance data not found at {data}: clone has no ../shared")
    rows = [r for r in csv.DictReader((data / "MANIFEST.tsv").open(), delimiter="\t")
            if r["case_kind"] == "cpuid-guest" and _uses_qemu_models(r)]
    assert len(rows) == 26
    for row in rows:
        assert read_qemu_models(data / row["inputs"].split(";")[1]).names


@pytest.mark.parametrize("version", RELEASES)
def test_every_case_kind_we_claim_is_present(version):
    data = _data(version)
    if not (data / "MANIFEST.tsv").exists():
        pytest.skip(f"conformance data not found at {data}: clone has no ../shared")
    kinds = {r["case_kind"] for r in csv.DictReader((data / "MANIFEST.tsv").open(), delimiter="\t")}
    assert {"compare", "baseline", "cpuid-baseline", "cpuid-host", "cpuid-guest"} <= kinds
