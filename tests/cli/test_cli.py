"""The CLI's JSON shapes are a contract others' tools rely on; exit codes too."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import pytest

from cpucompat.engine.cpuid import encode_dump

HOST = """<cpu>
  <arch>x86_64</arch>
  <model>Haswell</model>
  <vendor>Intel</vendor>
  <feature name='vmx'/>
  <feature name='invtsc'/>
</cpu>"""

OLD_HOST = """<cpu><arch>x86_64</arch><model>SandyBridge</model><vendor>Intel</vendor>
<feature name='invtsc'/></cpu>"""

GUESTS = """<cpu mode='custom' match='exact'><model>Nehalem</model></cpu>
<cpu mode='custom' match='exact'><model>Haswell</model></cpu>"""


def run(*args: str) -> subprocess.CompletedProcess:
    # cwd elsewhere than the checkout, so the installed package is the one run
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True,
                          timeout=120, cwd=tempfile.gettempdir())


@pytest.fixture()
def files(tmp_path):
    paths = {}
    for name, text in {"host.xml": HOST, "old.xml": OLD_HOST, "guests.xml": GUESTS,
                       "hosts.xml": HOST + "\n" + OLD_HOST}.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    return paths


def test_models_json_is_a_list_with_name_first(cpumap):
    proc = run("models", "--json", "--arch", "x86_64", "--cpu-map", "9.0.0")  # 9.0.0's models
    rows = json.loads(proc.stdout)
    assert proc.returncode == 0
    assert [r["name"] for r in rows] == [m.name for m in cpumap.x86.models]
    assert all(next(iter(r)) == "name" for r in rows)


def test_show_names_neighbours_in_the_subset_order():
    value = json.loads(run("show", "Haswell-noTSX", "--json").stdout)
    assert "SandyBridge" in value["below"]
    assert "Haswell" in value["above"]
    assert "avx2" in value["features"]


def test_show_lists_a_vendorless_model_of_equal_features_just_below():
    value = json.loads(run("show", "Opteron_G1", "--json").stdout)
    assert "cpu64-rhel5" in value["below"]


def test_compare_reports_each_guest_and_exits_1_when_one_is_incompatible(files):
    proc = run("compare", "--json", "--host", str(files["old.xml"]), str(files["guests.xml"]))
    results = json.loads(proc.stdout)
    assert [r["result"] for r in results] == ["superset", "incompatible"]
    assert {"avx2", "fma"} <= set(results[1]["missing"])
    assert set(results[0]) == {"result", "missing", "forbidden", "reason", "cpu_map"}
    assert proc.returncode == 1


def test_compare_exits_0_when_every_guest_fits(files):
    proc = run("compare", "--host", str(files["host.xml"]), str(files["guests.xml"]))
    assert proc.returncode == 0
    assert "superset" in proc.stdout


def test_baseline_json_has_the_contract_keys(files):
    value = json.loads(run("baseline", "--json", str(files["hosts.xml"])).stdout)
    assert set(value) == {"arch", "vendor", "model", "features", "disabled", "expanded", "cpu_map"}
    assert value["model"] == "SandyBridge"
    assert value["vendor"] == "Intel"
    assert "invtsc" in value["features"]


def test_baseline_migratable_drops_invtsc(files):
    value = json.loads(run("baseline", "--json", "--migratable", str(files["hosts.xml"])).stdout)
    assert "invtsc" not in value["features"] and "invtsc" not in value["expanded"]


def test_expand_lists_every_cpu_of_the_file(files):
    value = json.loads(run("expand", "--json", str(files["hosts.xml"])).stdout)
    assert [v["model"] for v in value] == ["Haswell", "SandyBridge"]
    assert all(set(v) >= {"arch", "vendor", "model", "features"} for v in value)
    assert "avx2" in value[0]["features"] and "avx2" not in value[1]["features"]


def test_decode_reads_a_raw_cpuid_dump(tmp_path, cpumap):
    dump = tmp_path / "cpuid.xml"
    x86 = cpumap.x86
    dump.write_text(encode_dump(x86, x86.model("Haswell-noTSX").features, "Intel", (6, 60, 3)).to_xml())
    value = json.loads(run("decode", "--json", "--cpu-map", "9.0.0", str(dump)).stdout)
    assert value[0]["model"] == "Haswell-noTSX"
    assert value[0]["signature"] == {"family": 6, "model": 60, "stepping": 3}
    assert set(value[0]) == {"arch", "vendor", "model", "signature", "features", "disabled", "cpu_map"}


def test_errors_are_one_line_on_stderr_with_exit_2(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<cpu><model>NoSuchModel</model></cpu>")
    proc = run("expand", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "NoSuchModel" in proc.stderr and "bad.xml" in proc.stderr


def test_decode_guest_is_a_host_model_cpu_with_fallback_forbid(tmp_path, cpumap):
    dump = tmp_path / "cpuid.xml"
    x86 = cpumap.x86
    dump.write_text(encode_dump(x86, x86.model("Haswell-noTSX").features, "Intel", (6, 60, 3)).to_xml())
    proc = run("decode", "--guest", str(dump))
    assert proc.returncode == 0
    assert '<model fallback="forbid">Haswell-noTSX</model>' in proc.stdout


def test_decode_guest_with_qemu_models_keeps_to_them_and_disables_blockers(tmp_path, cpumap):
    x86 = cpumap.x86
    dump = tmp_path / "cpuid.xml"
    dump.write_text(encode_dump(x86, x86.model("Haswell-noTSX").features, "Intel", (6, 60, 3)).to_xml())
    qmp = tmp_path / "qmp.json"
    # a QMP reply as QEMU gives it: KVM cannot offer fma (QEMU spells pclmuldq "pclmulqdq")
    qmp.write_text(json.dumps({"return": [
        {"name": "Haswell-noTSX", "unavailable-features": ["fma", "pclmulqdq"], "static": False},
        {"name": "SandyBridge", "unavailable-features": []}], "id": "definitions"}))
    value = json.loads(run("decode", "--guest", "--json", "--qemu-models", str(qmp), str(dump)).stdout)
    assert value[0]["model"] == "Haswell-noTSX"
    assert {"fma", "pclmuldq"} <= set(value[0]["disabled"])
    qmp.write_text(json.dumps([{"name": "SandyBridge", "unavailable-features": []}]))
    value = json.loads(run("decode", "--guest", "--json", "--qemu-models", str(qmp), str(dump)).stdout)
    assert value[0]["model"] == "SandyBridge" and not value[0]["disabled"]


def test_baseline_json_gives_the_inputs_arch(files):
    assert json.loads(run("baseline", "--json", str(files["hosts.xml"])).stdout)["arch"] == "x86_64"


@pytest.mark.parametrize("command, text, expect", [
    (["decode"], "<cpudata arch='x86'><cpuid eax_in='0x0' ecx_in='0x0' eax='0xd' ebx='0x756e6547' "
                 "ecx='0x6c65746e' edx='0x49656e69'/></cpudata>", "cannot find suitable CPU model"),
    (["decode", "--qemu-models", "input.xml"], "<cpudata arch='x86'><cpuid eax_in='0x0' eax='0x1'/></cpudata>",
     "--qemu-models needs --guest"),
    (["expand"], "<cpu><arch>aarch64</arch><model>cortex-a53</model></cpu>", "arch aarch64"),
    (["baseline"], "<cpu><arch>aarch64</arch><model>cortex-a53</model></cpu>", "arch aarch64"),
    (["expand"], "<cpu mode='host-model'/>", "cannot expand a host-model CPU"),
    (["expand"], "<cpu mode='host-passthrough'/>", "cannot expand a host-passthrough CPU"),
])
def test_errors_name_the_input_and_what_is_wrong_with_it(tmp_path, command, text, expect):
    path = tmp_path / "input.xml"
    path.write_text(text)
    proc = run(*[str(path) if arg == "input.xml" else arg for arg in command], str(path))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "input.xml" in proc.stderr and expect in proc.stderr
