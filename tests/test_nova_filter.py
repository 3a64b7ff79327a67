"""CpuCompatFilter inside real Nova: loaded from nova.conf lines as an operator
writes them, fed Nova's own RequestSpec / Flavor / HostState objects.

The cpu_info files in tests/data/nova/ are what Nova's libvirt driver
stores for real CPUs (libvirt's test CPUs, decoded and expanded by
cpucompat).  Nova's test package is not imported: it monkey-patches the
process with eventlet.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

nova_conf = pytest.importorskip("nova.conf", reason="Nova is not installed: pip install '.[nova]' to run "
                                                    "the filter inside real Nova")
from nova import objects  # noqa: E402
from nova.scheduler import filters, host_manager  # noqa: E402

objects.register_all()
CONF = nova_conf.CONF
NOVA_DATA = Path(__file__).resolve().parent / "data" / "nova"
CPU_INFO = {p.stem: p.read_text().strip() for p in NOVA_DATA.glob("*.json")}


class FakeHostState(host_manager.HostState):
    """Same shape as Nova's test fake: a real HostState with attributes set."""

    def __init__(self, host, node, attributes):
        super().__init__(host, node, None)
        for key, value in attributes.items():
            setattr(self, key, value)


def fleet(**extra):
    hosts = [FakeHostState(f"{name}-host", f"{name}-node", {"cpu_info": info}) for name, info in sorted(CPU_INFO.items())]
    hosts += [FakeHostState(name, name, {"cpu_info": info}) for name, info in extra.items()]
    return hosts


def spec(extra_specs=None, ignore_hosts=None, hints=None, image=None):
    return objects.RequestSpec(
        instance_uuid=str(uuid.uuid4()), scheduler_hints=hints or {}, ignore_hosts=ignore_hosts or [],
        force_hosts=[], force_nodes=[], requested_destination=None,
        image=objects.ImageMeta.from_dict(image or {"properties": {}}),
        flavor=objects.Flavor(vcpus=2, memory_mb=2048, root_gb=10, ephemeral_gb=0, swap=0,
                              extra_specs=extra_specs or {}))


@pytest.fixture()
def scheduler(tmp_path):
    """A HostManager built the way nova-scheduler builds it, from a nova.conf."""

    def build(cpucompat_section: str = "", extra: str = "") -> host_manager.HostManager:
        conf_file = tmp_path / "nova.conf"
        conf_file.write_text(
            "[filter_scheduler]\n"
            "available_filters = nova.scheduler.filters.all_filters\n"
            "available_filters = cpucompat.filters.CpuCompatFilter\n"
            "enabled_filters = ImagePropertiesFilter,CpuCompatFilter\n"
            f"{extra}\n[cpucompat]\n{cpucompat_section}\n")
        CONF.reset()
        CONF(["--config-file", str(conf_file)], project="nova")
        manager = host_manager.HostManager.__new__(host_manager.HostManager)
        manager.filter_handler = filters.HostFilterHandler()
        classes = manager.filter_handler.get_matching_classes(CONF.filter_scheduler.available_filters)
        manager.filter_cls_map = {cls.__name__: cls for cls in classes}
        manager.filter_obj_map = {}
        manager.enabled_filters = manager._choose_host_filters(manager._load_filters())
        return manager

    yield build
    CONF.reset()


def passing(manager, hosts, request):
    return sorted(h.host for h in manager.get_filtered_hosts(hosts, request))


def test_operator_conf_lines_load_the_filter(scheduler):
    manager = scheduler("cpu_mode = custom\ncpu_models = Haswell-noTSX\n")
    assert [type(f).__name__ for f in manager.enabled_filters] == ["ImagePropertiesFilter", "CpuCompatFilter"]


def test_custom_boot_lands_only_where_the_model_runs(scheduler):
    manager = scheduler("cpu_mode = custom\ncpu_models = Skylake-Server\n")
    assert passing(manager, fleet(), spec()) == ["cascadelake-host", "icelake-host", "skylake-host"]


def test_custom_models_in_order_with_required_traits(scheduler):
    manager = scheduler("cpu_mode = custom\ncpu_models = SandyBridge,Haswell-noTSX\n")
    everywhere_intel = ["broadwell-host", "cascadelake-host", "haswell-host", "icelake-host", "sandybridge-host",
                        "skylake-host"]
    assert passing(manager, fleet(), spec()) == everywhere_intel
    # AVX2 is not in SandyBridge: only hosts running Haswell-noTSX qualify
    avx2 = spec({"trait:HW_CPU_X86_AVX2": "required"})
    assert passing(manager, fleet(), avx2) == [h for h in everywhere_intel if h != "sandybridge-host"]


def test_flavor_extra_specs_choose_the_cpu(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    request = spec({"cpucompat:cpu_mode": "custom", "cpucompat:cpu_model": "Icelake-Server"})
    assert passing(manager, fleet(), request) == ["icelake-host"]


def test_host_model_live_migration_old_to_new_accepted_new_to_old_refused(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    passing(manager, hosts, spec())  # the scheduler sees every host on every request
    from_skylake = spec(ignore_hosts=["skylake-host"])
    assert passing(manager, hosts, from_skylake) == ["cascadelake-host", "icelake-host"]
    from_haswell = spec(ignore_hosts=["haswell-host"])
    assert "broadwell-host" in passing(manager, hosts, from_haswell)
    assert "sandybridge-host" not in passing(manager, hosts, from_haswell)


def test_move_source_can_be_named_by_hint(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    passing(manager, hosts, spec())
    request = spec(hints={"cpucompat_source_host": ["icelake-host"]})
    assert passing(manager, hosts, request) == ["icelake-host"]


def test_passthrough_only_between_identical_hosts(scheduler):
    manager = scheduler("cpu_mode = host-passthrough\n")
    hosts = fleet(**{"skylake-twin": CPU_INFO["skylake"]})
    passing(manager, hosts, spec())
    assert passing(manager, hosts, spec(ignore_hosts=["skylake-host"])) == ["skylake-twin"]
    superset = scheduler("cpu_mode = host-passthrough\npassthrough_match = superset\n")
    passing(superset, hosts, spec())
    assert passing(superset, hosts, spec(ignore_hosts=["skylake-host"])) == [
        "cascadelake-host", "icelake-host", "skylake-twin"]


@pytest.mark.parametrize("cpu_info", [None, "", "{}", "{not json", json.dumps({"model": "NoSuchCPU"}), {"x": 1}])
def test_hosts_without_usable_cpu_info_fail_with_a_reason_never_an_exception(scheduler, caplog, cpu_info):
    manager = scheduler("cpu_mode = custom\ncpu_models = Nehalem\n")
    hosts = fleet(broken=cpu_info)
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        result = passing(manager, hosts, spec())
    assert "broken" not in result and "haswell-host" in result
    assert any("broken fails CpuCompatFilter" in r.getMessage() for r in caplog.records)


def test_rejections_say_why(scheduler, caplog):
    manager = scheduler("cpu_mode = custom\ncpu_models = Icelake-Server\n")
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        passing(manager, fleet(), spec())
    lines = [r.getMessage() for r in caplog.records if "haswell-host fails" in r.getMessage()]
    assert len(lines) == 1 and "avx512f" in lines[0]


def test_deprecated_option_names_still_work(scheduler):
    manager = scheduler(extra="[DEFAULT]\nlibvirt_cpu_mode = custom\nlibvirt_cpu_model = Icelake-Server\n")
    assert passing(manager, fleet(), spec()) == ["icelake-host"]


def test_nova_libvirt_section_is_the_fallback(scheduler):
    manager = scheduler(extra="[libvirt]\ncpu_mode = custom\ncpu_models = Cascadelake-Server\n")
    assert passing(manager, fleet(), spec()) == ["cascadelake-host", "icelake-host"]


@pytest.mark.parametrize("section, message", [
    ("cpu_mode = custom\n", "needs a model"),
    ("cpu_mode = host-model\ncpu_models = Haswell\n", "should not be set"),
    ("cpu_mode = custom\ncpu_models = Haswel\n", "did you mean"),
])
def test_bad_configuration_is_refused_at_start_up(scheduler, section, message):
    with pytest.raises(Exception, match=message):
        scheduler(section)


def test_rebuild_bypasses_the_filter_as_nova_expects(scheduler):
    manager = scheduler("cpu_mode = custom\ncpu_models = Icelake-Server\n")
    request = spec(hints={"_nova_check_type": ["rebuild"]})
    assert len(passing(manager, fleet(), request)) == len(CPU_INFO)


def test_sample_config_is_generated_with_help():
    proc = subprocess.run([sys.executable, "-m", "oslo_config.generator", "--namespace", "cpucompat"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[cpucompat]" in proc.stdout and "#cpu_mode = <None>" in proc.stdout
    assert "Deprecated group/name - [DEFAULT]/libvirt_cpu_mode" in proc.stdout


def test_a_bad_new_configuration_keeps_the_old_one(scheduler, caplog, tmp_path):
    manager = scheduler("cpu_mode = custom\ncpu_models = Icelake-Server\n")
    CONF.set_override("cpu_map", str(tmp_path / "no-such-map"), group="cpucompat")
    with caplog.at_level(logging.ERROR, logger="cpucompat.filters.cpu_compat_filter"):
        assert passing(manager, fleet(), spec()) == ["icelake-host"]
    assert any("keeping the previous one" in r.getMessage() for r in caplog.records)
    CONF.set_override("cpu_models", ["Cascadelake-Server"], group="cpucompat")
    CONF.clear_override("cpu_map", group="cpucompat")
    assert passing(manager, fleet(), spec()) == ["cascadelake-host", "icelake-host"]  # a good change applies


def test_an_aggregate_can_pin_a_model(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    pinned = objects.Aggregate(id=1, name="avx512", metadata={"cpucompat_cpu_model": "Skylake-Server"})
    for host in hosts:
        host.aggregates = [pinned] if host.host in ("haswell-host", "icelake-host") else []
    result = passing(manager, hosts, spec())
    assert "haswell-host" not in result  # pinned to Skylake-Server, which Haswell cannot run
    assert "icelake-host" in result and "sandybridge-host" in result  # outside the aggregate: host-model
