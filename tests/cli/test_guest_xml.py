"""`cpucompat guest-xml`: the <cpu> element Nova gives a guest, through the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cpucompat.xmlsafe import parse_xml

NOVA = Path(__file__).resolve().parents[1] / "data" / "nova"
HASWELL_XML = """<cpu><arch>x86_64</arch><model>Haswell-noTSX</model><vendor>Intel</vendor>
<feature name='vmx'/></cpu>"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpucompat", "guest-xml", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=tempfile.gettempdir())


def cpu_element(stdout: str):
    return parse_xml(stdout.split("<!--")[0], "stdout")


def test_host_model_is_the_mode_element_and_says_what_qemu_runs():
    proc = run(NOVA / "icelake.json")
    assert proc.returncode == 0, proc.stderr
    assert cpu_element(proc.stdout).get("mode") == "host-model"
    assert "runs it as Icelake-Server" in proc.stdout and "-intel-pt" in proc.stdout
    value = json.loads(run("--json", NOVA / "icelake.json").stdout)
    assert value["host_model"]["model"] == "Icelake-Server" and "intel-pt" in value["host_model"]["disabled"]
    assert "monitor" not in value["host_model"]["features"]


def test_custom_takes_the_first_model_with_the_flavors_traits_and_the_extra_flags():
    proc = run("--mode", "custom", "--models", "SandyBridge,Haswell-noTSX", "--extra-flags", "+pcid,-mpx",
               "--trait", "HW_CPU_X86_AVX2", NOVA / "skylake.json")
    assert proc.returncode == 0, proc.stderr
    cpu = cpu_element(proc.stdout)
    assert (cpu.get("mode"), cpu.get("match"), cpu.findtext("model")) == ("custom", "exact", "Haswell-noTSX")
    assert {f.get("name"): f.get("policy") for f in cpu.findall("feature")} == {"pcid": "require",
                                                                                "mpx": "disable"}
    without_trait = run("--json", "--mode", "custom", "--models", "SandyBridge,Haswell-noTSX", NOVA / "skylake.json")
    assert json.loads(without_trait.stdout)["model"] == "SandyBridge"


def test_a_custom_model_the_host_cannot_run_is_still_given_as_nova_does_and_exits_1():
    proc = run("--mode", "custom", "--models", "Icelake-Server,SandyBridge", NOVA / "haswell.json")
    assert proc.returncode == 1
    assert cpu_element(proc.stdout).findtext("model") == "Icelake-Server"
    assert "this host cannot run it" in proc.stdout and "avx512f" in proc.stdout
    value = json.loads(run("--json", "--mode", "custom", "--models", "Icelake-Server", NOVA / "haswell.json").stdout)
    assert value["runs"] is False and "avx512f" in value["reason"]


def test_host_model_before_libvirt_0_9_10_is_a_copy_of_the_host_cpu(tmp_path):
    host = tmp_path / "haswell.xml"
    host.write_text(HASWELL_XML)
    proc = run("--libvirt-version", "0.9.8", "--extra-flags=-invtsc", host)  # "=": a leading - is no option
    assert proc.returncode == 0, proc.stderr
    cpu = cpu_element(proc.stdout)
    assert cpu.get("mode") is None and cpu.get("match") == "exact"
    assert (cpu.findtext("model"), cpu.findtext("vendor")) == ("Haswell-noTSX", "Intel")
    assert {f.get("name"): f.get("policy") for f in cpu.findall("feature")} == {"vmx": "require",
                                                                                "invtsc": "disable"}
    assert cpu_element(run("--libvirt-version", "1.2", host).stdout).get("mode") == "host-model"


@pytest.mark.parametrize("mode, expected", [("host-passthrough", 'mode="host-passthrough"'),
                                            ("maximum", 'mode="maximum"'), ("none", "no <cpu> element")])
def test_other_modes(mode, expected):
    proc = run("--mode", mode, NOVA / "epyc-rome.json")
    assert proc.returncode == 0 and expected in proc.stdout
    if mode == "none":
        assert json.loads(run("--json", "--mode", mode, NOVA / "epyc-rome.json").stdout)["xml"] == ""


@pytest.mark.parametrize("args, message", [
    (["--mode", "custom"], "--models: cpu_mode=custom (--mode) needs a model name"),
    (["--models", "Haswell"], "should not be set when cpu_mode=host-model"),
    (["--mode", "custom", "--models", "Haswel"], "did you mean"),
    (["--extra-flags", "+nosuch"], "--extra-flags"),
    (["--mode", "custom", "--models", "SandyBridge", "--trait", "HW_CPU_X86_AVX2"], "SandyBridge lacks avx2"),
    (["--trait", "HW_CPU_X86_NOSUCH"], "--trait: unknown trait HW_CPU_X86_NOSUCH"),
    (["--libvirt-version", "9.x"], "not a libvirt version"),
    (["--libvirt-version", "0.9.6"], "older than the oldest supported"),
    (["--mode", "maximum", "--libvirt-version", "7.0.0"], "needs libvirt 7.1.0"),
    (["--mode", "bogus"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = run(*args, NOVA / "haswell.json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_a_missing_host_file_is_one_line():
    proc = run("/nonexistent/host.xml")
    assert proc.returncode == 2 and "/nonexistent/host.xml" in proc.stderr and proc.stderr.count("\n") == 1
