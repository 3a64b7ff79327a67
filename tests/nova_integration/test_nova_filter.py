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

import cpucompat

nova_conf = pytest.importorskip("nova.conf", reason="Nova is not installed: pip install '.[nova]' to run "
                                                    "the filter inside real Nova")
from nova import objects  # noqa: E402
from nova.scheduler import filters, host_manager  # noqa: E402

from cpucompat.filters.cpu_compat_filter import nova_instance_state as real_instance_state  # noqa: E402

objects.register_all()
CONF = nova_conf.CONF
NOVA_DATA = Path(__file__).resolve().parents[1] / "data" / "nova"
CPU_INFO = {p.stem: p.read_text().strip() for p in NOVA_DATA.glob("*.json")}


class FakeHostState(host_manager.HostState):
    """Same shape as Nova's test fake: a real HostState with attributes set."""

    def __init__(self, host, node, attributes):
        super().__init__(host, node, None)
        for key, value in attributes.items():
            setattr(self, key, value)


def renamed(name, model=None, add=()):
    """A host's cpu_info as a newer libvirt reports it: another model name,
    features the embedded map does not know."""
    info = json.loads(CPU_INFO[name])
    info["model"] = model or info["model"]
    info["features"] = sorted(info["features"] + list(add))
    return json.dumps(info)


def config_policy(mode):
    from cpucompat.nova.config import CpuPolicy

    return CpuPolicy(mode, (), (), cpucompat.embedded_cpu_map(), "exact", True)


def fleet(**extra):
    hosts = [FakeHostState(f"{name}-host", f"{name}-node", {"cpu_info": info}) for name, info in sorted(CPU_INFO.items())]
    hosts += [FakeHostState(name, name, {"cpu_info": info}) for name, info in extra.items()]
    return hosts


def spec(extra_specs=None, ignore_hosts=None, hints=None, image=None, destination=None, context=None,
         instance_uuid=None):
    return objects.RequestSpec(
        context, instance_uuid=instance_uuid or str(uuid.uuid4()), scheduler_hints=hints or {},
        ignore_hosts=ignore_hosts or [],
        force_hosts=[], force_nodes=[], requested_destination=destination,
        image=objects.ImageMeta.from_dict(image or {"properties": {}}),
        flavor=objects.Flavor(vcpus=2, memory_mb=2048, root_gb=10, ephemeral_gb=0, swap=0,
                              extra_specs=extra_specs or {}))


def a_move():
    """requested_destination as conductor sets it on every move: restricted to the instance's cell."""
    return objects.Destination(cell=objects.CellMapping(uuid=str(uuid.uuid4()), name="cell1"))


TASK_STATES: dict[str, tuple[str | None, str | None]] = {}  # instance uuid → (task_state, host) Nova holds


def fake_instance_state(context, instance_uuid, cell):
    """nova_instance_state for the RequestSpecs `move` builds; any other instance: Nova cannot be asked."""
    if instance_uuid not in TASK_STATES:
        raise LookupError("no database")
    return TASK_STATES[instance_uuid]


def move(source, task_state="migrating", **fields):
    """A move of an instance on `source` as conductor asks for it (source in ignore_hosts, the
    instance's cell as destination), the instance in `task_state` ('migrating': a live migration)."""
    instance_uuid = str(uuid.uuid4())
    TASK_STATES[instance_uuid] = (task_state, source)
    return spec(ignore_hosts=[source] if source else [], destination=a_move(), instance_uuid=instance_uuid,
                **fields)


def live(source, **fields):
    return move(source, "migrating", **fields)


@pytest.fixture(autouse=True)
def nova_task_states(monkeypatch):
    """Filters built by the fixtures below read task_states from TASK_STATES, not a database."""
    from cpucompat.filters import cpu_compat_filter

    monkeypatch.setattr(cpu_compat_filter, "nova_instance_state", fake_instance_state)


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


def test_a_multi_create_is_filtered_once_its_instances_share_the_answer(scheduler):
    manager = scheduler("cpu_mode = custom\ncpu_models = Icelake-Server\n")
    request = spec()
    request.num_instances = 3
    first = sorted(h.host for h in manager.get_filtered_hosts(fleet(), request, index=0))
    assert first == ["icelake-host"]
    # nova-scheduler places instance 1, 2, ... among the hosts instance 0's filtering left
    assert sorted(h.host for h in manager.get_filtered_hosts(
        [h for h in fleet() if h.host in first], request, index=1)) == first
    cpu_filter = manager.enabled_filters[1]
    assert cpu_filter.run_filter_for_index(0) and not cpu_filter.run_filter_for_index(1)


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


def test_flavor_cpu_model_and_flags_are_requirements_of_the_host_in_every_mode(scheduler):
    for section in ("cpu_mode = host-model\n", "cpu_mode = custom\ncpu_models = SandyBridge\n"):
        manager = scheduler(section)
        assert passing(manager, fleet(), spec({"cpucompat:cpu_model": "Icelake-Server"})) == ["icelake-host"]
        assert passing(manager, fleet(), spec({"cpucompat:cpu_flags": "+avx512f"})) == [
            "cascadelake-host", "icelake-host", "skylake-host"]
        # "any of": the host runs one of the listed models
        assert passing(manager, fleet(), spec({"cpucompat:cpu_model": "Icelake-Server,Cascadelake-Server"})) == [
            "cascadelake-host", "icelake-host"]


def test_flavor_cpu_model_never_changes_the_predicted_guest_cpu(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    passing(manager, hosts, spec())
    # a host-model guest from Skylake: its CPU is Skylake's host-model whatever the flavor says
    assert passing(manager, hosts, live("skylake-host", extra_specs={"cpucompat:cpu_model": "Haswell-noTSX"})) == [
        "cascadelake-host", "icelake-host"]
    # and the flavor's requirement counts on the move too
    assert passing(manager, hosts, live("skylake-host", extra_specs={"cpucompat:cpu_model": "Icelake-Server"})) == [
        "icelake-host"]


def test_flavor_cpu_mode_refuses_every_host_with_one_warning_naming_the_flavor(scheduler, caplog):
    manager = scheduler("cpu_mode = host-model\n")
    request = spec({"cpucompat:cpu_mode": "custom", "cpucompat:cpu_model": "Skylake-Server"})
    request.flavor.name = "old-skylake"
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        for _ in range(2):
            assert passing(manager, fleet(), request) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "flavor old-skylake" in warnings[0] and "[libvirt] cpu_mode" in warnings[0]
    assert any("not honoured" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)


def test_host_model_live_migration_old_to_new_accepted_new_to_old_refused(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    passing(manager, hosts, spec())  # the scheduler sees every host on every request
    from_skylake = live("skylake-host")
    assert passing(manager, hosts, from_skylake) == ["cascadelake-host", "icelake-host"]
    from_haswell = live("haswell-host")
    assert "broadwell-host" in passing(manager, hosts, from_haswell)
    assert "sandybridge-host" not in passing(manager, hosts, from_haswell)


@pytest.mark.parametrize("task_state, kind", [("resize_prep", "resize or cold migration"),
                                              ("rebuilding", "evacuation"), ("unshelving", "unshelve"),
                                              ("resize_migrating", "other move")])
def test_every_move_but_a_live_migration_is_checked_like_a_boot(scheduler, caplog, task_state, kind):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = [h for h in fleet() if h.host != "icelake-host"]  # Nova strips the source
    passing(manager, fleet(), spec())
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        assert passing(manager, hosts, move("icelake-host", task_state)) == sorted(h.host for h in hosts)
    assert any(f"task_state {task_state}: {kind}" in r.getMessage() for r in caplog.records)
    assert passing(manager, hosts, live("icelake-host")) == []  # no other Ice Lake


def test_a_move_nova_cannot_describe_is_judged_as_a_live_migration_with_one_warning(scheduler, caplog):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    passing(manager, hosts, spec())
    unknown = spec(ignore_hosts=["skylake-host"], destination=a_move())  # not in TASK_STATES: no database
    with caplog.at_level(logging.WARNING, logger="cpucompat.filters.cpu_compat_filter"):
        for _ in range(2):
            assert passing(manager, hosts, unknown) == ["cascadelake-host", "icelake-host"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "checked as a live migration from skylake-host" in warnings[0]
    no_source = spec(destination=a_move())
    assert passing(manager, hosts, no_source) == sorted(h.host for h in hosts)  # nothing to compare with


def test_hints_never_make_a_move(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    passing(manager, hosts, spec())
    stale = {"cpucompat_source_host": ["icelake-host"]}  # the old creation-time hint, still in old RequestSpecs
    assert passing(manager, hosts, spec(hints=stale)) == sorted(h.host for h in hosts)
    boot_on_a_host = spec(hints=stale, destination=objects.Destination(host="haswell-host", node=None))
    assert "haswell-host" in passing(manager, hosts, boot_on_a_host)


def test_passthrough_only_between_identical_hosts(scheduler):
    manager = scheduler("cpu_mode = host-passthrough\n")
    hosts = fleet(**{"skylake-twin": CPU_INFO["skylake"]})
    passing(manager, hosts, spec())
    assert passing(manager, hosts, live("skylake-host")) == ["skylake-twin"]
    assert len(passing(manager, hosts, move("skylake-host", "resize_prep"))) == len(hosts) - 1  # cold: any CPU
    superset = scheduler("cpu_mode = host-passthrough\npassthrough_match = superset\n")
    passing(superset, hosts, spec())
    assert passing(superset, hosts, live("skylake-host")) == [
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
    # even a flavor the filter would refuse: Nova bypasses filters for a same-host rebuild
    refused = spec({"cpucompat:cpu_mode": "custom"}, hints={"_nova_check_type": ["rebuild"]})
    assert len(passing(manager, fleet(), refused)) == len(CPU_INFO)
    from cpucompat.filters import CpuCompatFilter

    host_passes = CpuCompatFilter(instance_state=fake_instance_state).host_passes
    assert all(host_passes(host, spec(hints={"_nova_check_type": ["rebuild"]})) for host in fleet())


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


# -- hosts running a libvirt newer than the map ----------------------------------------------------------

NEWER = {"cascadelake-v1": renamed("cascadelake", "Cascadelake-Server-v1"),
         "sapphirerapids": renamed("icelake", "SapphireRapids", add=["amx-bf16", "amx-tile", "fred"])}


@pytest.mark.parametrize("section", ["cpu_mode = custom\ncpu_models = Skylake-Server\n", "cpu_mode = host-model\n",
                                     "cpu_mode = host-passthrough\n"])
def test_hosts_on_a_newer_libvirt_are_judged_by_their_features(scheduler, section):
    manager = scheduler(section)
    result = passing(manager, fleet(**NEWER), spec())
    assert "cascadelake-v1" in result and "sapphirerapids" in result


def test_a_newer_libvirts_model_name_changes_no_move(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet(**NEWER)
    passing(manager, hosts, spec())
    swap = {"cascadelake-host": "cascadelake-v1", "cascadelake-v1": "cascadelake-host"}
    from_known = passing(manager, hosts, live("cascadelake-host"))
    from_newer = passing(manager, hosts, live("cascadelake-v1"))
    assert from_newer == sorted(swap.get(h, h) for h in from_known) and "cascadelake-host" in from_newer
    assert "cascadelake-v1" in passing(manager, hosts, live("skylake-host"))


def test_passthrough_exact_counts_feature_names_the_map_does_not_know(scheduler):
    with_fred = renamed("skylake", add=["fred"])
    hosts = fleet(**{"skylake-fred": with_fred, "skylake-fred-twin": with_fred})
    exact = scheduler("cpu_mode = host-passthrough\n")
    passing(exact, hosts, spec())
    assert passing(exact, hosts, live("skylake-host")) == []  # the others list fred too
    assert passing(exact, hosts, live("skylake-fred")) == ["skylake-fred-twin"]
    superset = scheduler("cpu_mode = host-passthrough\npassthrough_match = superset\n")
    passing(superset, hosts, spec())
    assert "skylake-host" not in passing(superset, hosts, live("skylake-fred"))
    assert "skylake-fred" in passing(superset, hosts, live("skylake-host"))


def test_host_model_moves_need_the_sources_unknown_features(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet(**{"skylake-fred": renamed("skylake", add=["fred"]), "icelake-fred": renamed("icelake", add=["fred"])})
    passing(manager, hosts, spec())
    assert passing(manager, hosts, live("skylake-fred")) == [
        "icelake-fred"]  # icelake-host, cascadelake-host, skylake-host lack fred


def test_a_model_unknown_to_the_map_is_refused_naming_the_section_it_came_from(scheduler):
    # libvirt 9.0.0's map (pinned: newer maps define SapphireRapids)
    with pytest.raises(Exception, match=r"\[libvirt\] cpu_models.*unknown CPU model 'SapphireRapids'"):
        scheduler("cpu_map = 9.0.0\n", extra="[libvirt]\ncpu_mode = custom\ncpu_models = SapphireRapids\n")
    with pytest.raises(Exception, match=r"\[cpucompat\] cpu_models.*unknown CPU model 'SapphireRapids'"):
        scheduler("cpu_mode = custom\ncpu_models = SapphireRapids\ncpu_map = 9.0.0\n")


# -- options falling back to [libvirt] one by one ----------------------------------------------------------

def test_each_unset_option_falls_back_to_nova_libvirt_section(scheduler):
    models_from_libvirt = scheduler("cpu_mode = custom\n", extra="[libvirt]\ncpu_models = Cascadelake-Server\n")
    assert passing(models_from_libvirt, fleet(), spec()) == ["cascadelake-host", "icelake-host"]
    # [libvirt]'s models belong to its custom mode, which [cpucompat] overrides here
    overridden = scheduler("cpu_mode = host-model\n",
                           extra="[libvirt]\ncpu_mode = custom\ncpu_models = Cascadelake-Server\n")
    assert len(passing(overridden, fleet(), spec())) == len(CPU_INFO)
    flags_from_libvirt = scheduler("cpu_mode = custom\ncpu_models = Haswell-noTSX\n",
                                   extra="[libvirt]\ncpu_model_extra_flags = +avx512f\n")
    assert passing(flags_from_libvirt, fleet(), spec()) == ["cascadelake-host", "icelake-host", "skylake-host"]


def test_unset_mode_is_none_for_hypervisors_without_cpu_models_as_in_nova(scheduler):
    manager = scheduler(extra="[libvirt]\nvirt_type = lxc\n")
    assert manager.enabled_filters[1].placement.policy.mode == "none"
    assert scheduler().enabled_filters[1].placement.policy.mode == "host-model"


# -- a move's source this scheduler has not seen -------------------------------------------------------

def _unconfigured_nova_conf():
    """nova.conf.CONF with no file, as an unconfigured nova-scheduler has it,
    and cpucompat's options registered (the tests set them before any filter
    would register them)."""
    from cpucompat.nova import config

    CONF([], project="nova")
    if "cpucompat" not in CONF:
        config.register_opts(CONF)


@pytest.fixture()
def plain_conf():
    _unconfigured_nova_conf()
    yield CONF
    CONF.reset()


def test_unseen_source_is_looked_up_and_an_unknown_one_logged_once_per_request(plain_conf, caplog):
    from cpucompat.filters import CpuCompatFilter

    CONF.set_override("cpu_mode", "host-model", group="cpucompat")
    asked = []

    def lookup(context, host):
        asked.append(host)
        return CPU_INFO["skylake"] if host == "skylake-host" else None

    cpu_filter = CpuCompatFilter(source_cpu_info=lookup)
    hosts = [h for h in fleet() if h.host != "skylake-host"]
    assert sorted(h.host for h in cpu_filter.filter_all(hosts, live("skylake-host"))) == [
        "cascadelake-host", "icelake-host"]
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        for _ in range(2):
            assert len(cpu_filter.filter_all(hosts, live("gone-host"))) == len(hosts)
    unknown = [r for r in caplog.records if "gone-host" in r.getMessage() and "boot rule" in r.getMessage()]
    assert len(unknown) == 2 and asked == ["skylake-host", "gone-host", "gone-host"]


@pytest.fixture()
def nova_database(tmp_path):
    """Nova's API and cell databases (sqlite), with the tables the source lookup reads."""
    import oslo_messaging
    import sqlalchemy
    from nova import context as nova_context
    from nova.db.api import api as api_db, models as api_models
    from nova.db.main import models as main_models

    main, api = f"sqlite:///{tmp_path}/main.db", f"sqlite:///{tmp_path}/api.db"
    _unconfigured_nova_conf()
    oslo_messaging.get_rpc_transport(CONF, url="fake:/")  # registers [DEFAULT] transport_url, as nova.rpc does
    CONF.set_override("connection", main, group="database")
    CONF.set_override("connection", api, group="api_database")
    # Instance.get_by_uuid joins the info cache and security groups
    main_tables = [main_models.ComputeNode, main_models.Instance, main_models.InstanceInfoCache,
                   main_models.SecurityGroup, main_models.SecurityGroupInstanceAssociation,
                   main_models.SecurityGroupIngressRule]
    # through the cell's own connection: Nova's global engine stays on the first test's file
    main_models.BASE.metadata.create_all(sqlalchemy.create_engine(main), tables=[t.__table__ for t in main_tables])
    api_models.BASE.metadata.create_all(api_db.get_engine(), tables=[api_models.CellMapping.__table__,
                                                                     api_models.HostMapping.__table__,
                                                                     api_models.InstanceMapping.__table__])
    context = nova_context.get_admin_context()
    cell = objects.CellMapping(context, uuid=str(uuid.uuid4()), name="cell1", transport_url="none:///",
                               database_connection=main)
    cell.create()
    yield context, cell
    CONF.reset()


def test_unseen_source_cpu_info_comes_from_nova_database(nova_database):
    from nova import context as nova_context

    from cpucompat.filters import CpuCompatFilter
    from cpucompat.filters.cpu_compat_filter import nova_cpu_info

    context, cell = nova_database
    objects.HostMapping(context, host="skylake-host", cell_mapping=cell).create()
    with nova_context.target_cell(context, cell) as cell_context:
        objects.ComputeNode(cell_context, uuid=str(uuid.uuid4()), host="skylake-host", hypervisor_hostname="sky",
                            vcpus=8, memory_mb=1, local_gb=1, vcpus_used=0, memory_mb_used=0, local_gb_used=0,
                            hypervisor_type="QEMU", hypervisor_version=1, cpu_info=CPU_INFO["skylake"]).create()
    assert nova_cpu_info(context, "skylake-host") == CPU_INFO["skylake"]
    assert nova_cpu_info(context, "no-such-host") is None and nova_cpu_info(None, "skylake-host") is None
    CONF.set_override("cpu_mode", "host-model", group="cpucompat")
    hosts = [h for h in fleet() if h.host != "skylake-host"]
    migrating = an_instance_on(context, cell, "skylake-host", "migrating")
    request = spec(ignore_hosts=["skylake-host"], context=context, destination=objects.Destination(cell=cell),
                   instance_uuid=migrating)
    passed = CpuCompatFilter(instance_state=real_instance_state).filter_all(hosts, request)
    assert sorted(h.host for h in passed) == ["cascadelake-host", "icelake-host"]


def an_instance_on(context, cell, host, task_state=None):
    """An instance row in the cell database and its mapping, as Nova keeps them."""
    from nova import context as nova_context
    from nova.db.main import api as main_db, models as main_models

    instance_uuid = str(uuid.uuid4())
    with nova_context.target_cell(context, cell) as cell_context:
        with main_db.get_context_manager(cell_context).writer.using(cell_context) as session:
            session.add(main_models.Instance(uuid=instance_uuid, host=host, project_id="p", user_id="u",
                                             task_state=task_state))
    objects.InstanceMapping(context, instance_uuid=instance_uuid, cell_mapping=cell, project_id="p").create()
    return instance_uuid


def test_nova_database_tells_the_moves_apart_by_task_state(nova_database):
    from cpucompat.filters import CpuCompatFilter

    nova_instance_state = real_instance_state
    context, cell = nova_database
    live_on_skylake = an_instance_on(context, cell, "skylake-host", "migrating")
    resizing_on_icelake = an_instance_on(context, cell, "icelake-host", "resize_prep")
    offloaded = an_instance_on(context, cell, None, "unshelving")
    assert nova_instance_state(context, live_on_skylake, cell) == ("migrating", "skylake-host")
    assert nova_instance_state(context, live_on_skylake) == ("migrating", "skylake-host")  # cell from the mapping
    assert nova_instance_state(context, offloaded, cell) == ("unshelving", None)
    with pytest.raises(LookupError):
        nova_instance_state(None, offloaded, cell)
    cpu_filter, hosts = CpuCompatFilter(instance_state=real_instance_state), fleet()
    CONF.set_override("cpu_mode", "host-model", group="cpucompat")  # read again at the next request

    def passing_move(instance_uuid, ignore_hosts):
        request = spec(ignore_hosts=ignore_hosts, destination=objects.Destination(cell=cell), context=context,
                       instance_uuid=instance_uuid)
        return sorted(h.host for h in cpu_filter.filter_all([h for h in hosts if h.host not in ignore_hosts],
                                                            request))

    assert passing_move(live_on_skylake, ["skylake-host"]) == ["cascadelake-host", "icelake-host"]
    assert len(passing_move(resizing_on_icelake, ["icelake-host"])) == len(hosts) - 1  # defined anew: boot rule
    assert len(passing_move(offloaded, [])) == len(hosts)


def test_the_instance_lookup_is_given_the_moves_cell_and_a_boot_asks_nothing(plain_conf):
    from cpucompat.filters import CpuCompatFilter

    asked = []

    def instance_state(context, instance_uuid, cell):
        asked.append((instance_uuid, cell.name))
        return fake_instance_state(context, instance_uuid, cell)

    cpu_filter, hosts = CpuCompatFilter(instance_state=instance_state), fleet()
    CONF.set_override("cpu_mode", "host-model", group="cpucompat")
    cpu_filter.filter_all(hosts, spec())
    assert asked == []
    request = live("icelake-host")
    assert [h.host for h in cpu_filter.filter_all(hosts, request)] == ["icelake-host"]
    assert asked == [(request.instance_uuid, "cell1")]
    cpu_filter.filter_all(hosts, spec(hints={"_nova_check_type": ["rebuild"]}, destination=a_move()))
    assert len(asked) == 1  # a rebuild passes before Nova is asked


ARM = {name: json.dumps({"arch": "aarch64", "model": model, "vendor": "ARM", "features": ["fp", "asimd"]})
       for name, model in (("arm-n1", "Neoverse-N1"), ("arm-n1-twin", "Neoverse-N1"), ("arm-v1", "Neoverse-V1"))}


def test_host_model_moves_from_a_non_x86_source_go_to_the_same_model_without_a_fault(scheduler, caplog):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet(**ARM)
    passing(manager, hosts, spec())
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        assert passing(manager, hosts, live("arm-n1")) == ["arm-n1-twin"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Neoverse-N1" in next(r.getMessage() for r in caplog.records if "arm-v1 fails" in r.getMessage())


# -- errors are logged once -----------------------------------------------------------------------------

class BrokenAggregate:
    metadata = ["not", "a", "dict"]  # makes the filter itself fail: an internal error


@pytest.mark.parametrize("aggregate, warned", [
    (objects.Aggregate(id=1, name="typo", metadata={"cpucompat_cpu_model": "Skylake-Servr"}), "Skylake-Servr"),
    (BrokenAggregate(), "internal error"),
])
def test_a_fault_is_one_warning_and_one_debug_line_per_refused_host(scheduler, caplog, aggregate, warned):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    for host in hosts[:3]:
        host.aggregates = [aggregate]
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        for _ in range(2):
            assert passing(manager, hosts, spec()) == sorted(h.host for h in hosts[3:])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warned in warnings[0].getMessage()
    assert len([r for r in caplog.records if "fails CpuCompatFilter" in r.getMessage()]) == 6


def test_an_unreadable_reloaded_option_keeps_the_old_policy_with_one_error(scheduler, caplog, tmp_path):
    manager = scheduler("cpu_mode = custom\ncpu_models = Icelake-Server\n")
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text(conf_file.read_text().replace("cpu_mode = custom", "cpu_mode = bogus"))
    CONF.mutate_config_files()
    with caplog.at_level(logging.ERROR, logger="cpucompat.filters.cpu_compat_filter"):
        for _ in range(2):
            assert passing(manager, fleet(), spec()) == ["icelake-host"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "keeping the previous one" in errors[0] and "bogus" in errors[0]


def test_an_internal_error_reading_cpu_info_is_a_fault_logged_once(scheduler, caplog, monkeypatch):
    from cpucompat.nova import scheduling

    real = scheduling._host_cpu

    def host_cpu(cpu_info, cpumap):
        if "fault" in cpu_info:
            raise RuntimeError("a bug")
        return real(cpu_info, cpumap)

    monkeypatch.setattr(scheduling, "_host_cpu", host_cpu)
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet(faulty=renamed("skylake", add=["fault"]))
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        for _ in range(2):
            assert passing(manager, hosts, spec()) == sorted(h.host for h in hosts if h.host != "faulty")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "RuntimeError: a bug" in warnings[0]


def test_unusable_cpu_info_is_named_once_in_the_reason():
    from cpucompat.errors import NoSuitableModel
    from cpucompat.nova.hostcpu import _host_cpu
    from cpucompat.nova.scheduling import CpuPlacement

    placement = CpuPlacement(config_policy("host-model"))
    reason = placement.decide(placement.request({}), json.dumps({"model": "NoSuchCPU"})).reason
    assert reason.startswith("unusable cpu_info: unknown CPU model") and reason.count("cpu_info") == 1
    undecodable = json.dumps({"arch": "x86_64", "model": "NewCPU", "vendor": "Intel", "features": ["avx512f"]})
    with pytest.raises(NoSuitableModel) as raised:
        _host_cpu(undecodable, cpucompat.embedded_cpu_map())
    assert raised.value.source == "cpu_info"


def test_a_fault_inside_a_decision_is_flagged_for_the_warning_not_only_the_reason():
    from cpucompat.nova.scheduling import CpuPlacement, Request

    placement = CpuPlacement(config_policy("host-model"))
    decision = placement.decide(Request("host-model", required=("no-such-feature",)), CPU_INFO["skylake"])
    assert not decision.passes and decision.error and "no-such-feature" in decision.reason
    assert not placement.decide(placement.request({}), "{not json").error  # the host's own problem
