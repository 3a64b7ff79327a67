"""A CPU driver per architecture family, chosen by the CPU's arch."""
from __future__ import annotations

import pytest

import cpucompat
from cpucompat.engine.drivers import DRIVERS, ByNameDriver, driver_for, feature_map, is_x86
from cpucompat.engine.x86 import X86Driver

MAP = cpucompat.embedded_cpu_map()


@pytest.mark.parametrize("arch, family", [(None, "x86"), ("x86_64", "x86"), ("i686", "x86"), ("AMD64", "x86"),
                                          ("aarch64", "arm"), ("ppc64le", "ppc64"), ("s390x", "s390")])
def test_each_arch_gets_its_familys_driver(arch, family):
    assert driver_for(arch) is DRIVERS[family]
    assert isinstance(driver_for(arch), X86Driver if family == "x86" else ByNameDriver)
    assert is_x86(arch) == (family == "x86")


def test_an_arch_no_map_knows_is_compared_by_name():
    driver = driver_for("mips64")
    assert isinstance(driver, ByNameDriver) and driver.family == "mips64"
    host = cpucompat.Cpu(model="R10000", arch="mips64")
    assert cpucompat.compare(cpucompat.Cpu(model="R10000"), host).result == "identical"


def test_by_name_arches_answer_same_model_identical_and_another_incompatible():
    host = cpucompat.Cpu(model="POWER9", arch="ppc64le")
    assert cpucompat.compare(cpucompat.Cpu(model="POWER9"), host, MAP).result == "identical"
    other = cpucompat.compare(cpucompat.Cpu(model="POWER8"), host, MAP)
    assert other.result == "incompatible" and "differs from host CPU model POWER9" in other.reason
    assert cpucompat.compare(cpucompat.Cpu(model="POWER9", arch="x86_64"), host, MAP).result == "incompatible"


def test_an_x86_host_refuses_a_guest_of_another_arch():
    host = cpucompat.Cpu(model="Haswell", arch="x86_64")
    verdict = cpucompat.compare(cpucompat.Cpu(model="cortex-a53", arch="aarch64"), host, MAP)
    assert verdict.result == "incompatible" and verdict.reason == "CPU arch aarch64 does not match host arch"


def test_only_the_x86_driver_has_feature_bits_to_baseline_on():
    x86 = cpucompat.Cpu(model="Haswell", arch="x86_64")
    arm = cpucompat.Cpu(model="cortex-a53", arch="aarch64", source="arm.xml")
    assert feature_map(MAP, [x86, x86], "baseline") is MAP.x86
    with pytest.raises(cpucompat.UnknownArch, match="arm.xml: cannot baseline a CPU of arch aarch64"):
        feature_map(MAP, [x86, arm], "baseline")
