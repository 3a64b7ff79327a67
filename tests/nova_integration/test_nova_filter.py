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


def a_move():
    """requested_destination as conductor sets it on every move: restricted to the instance's cell."""
    return objects.Destination(cell=objects.CellMapping(uuid=str(uuid.uuid4()), name="cell1"))


def test_move_source_can_be_named_by_hint_when_nova_cannot_be_asked(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    passing(manager, hosts, spec())
    request = spec(hints={"cpucompat_source_host": ["icelake-host"]}, destination=a_move())
    assert passing(manager, hosts, request) == ["icelake-host"]


def test_the_real_source_wins_over_a_stale_hint_and_a_boot_ignores_it(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet()
    passing(manager, hosts, spec())
    stale = {"cpucompat_source_host": ["icelake-host"]}  # hints persist in the RequestSpec
    from_skylake = spec(hints=stale, ignore_hosts=["skylake-host"], destination=a_move())
    assert passing(manager, hosts, from_skylake) == ["cascadelake-host", "icelake-host"]
    boot = spec(hints=stale)
    assert passing(manager, hosts, boot) == sorted(h.host for h in hosts)
    boot_on_a_host = spec(hints=stale, destination=objects.Destination(host="haswell-host", node=None))
    assert "haswell-host" in passing(manager, hosts, boot_on_a_host)


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
    from_known = passing(manager, hosts, spec(ignore_hosts=["cascadelake-host"]))
    from_newer = passing(manager, hosts, spec(ignore_hosts=["cascadelake-v1"]))
    assert from_newer == sorted(swap.get(h, h) for h in from_known) and "cascadelake-host" in from_newer
    assert "cascadelake-v1" in passing(manager, hosts, spec(ignore_hosts=["skylake-host"]))


def test_passthrough_exact_counts_feature_names_the_map_does_not_know(scheduler):
    with_fred = renamed("skylake", add=["fred"])
    hosts = fleet(**{"skylake-fred": with_fred, "skylake-fred-twin": with_fred})
    exact = scheduler("cpu_mode = host-passthrough\n")
    passing(exact, hosts, spec())
    assert passing(exact, hosts, spec(ignore_hosts=["skylake-host"])) == []  # the others list fred too
    assert passing(exact, hosts, spec(ignore_hosts=["skylake-fred"])) == ["skylake-fred-twin"]
    superset = scheduler("cpu_mode = host-passthrough\npassthrough_match = superset\n")
    passing(superset, hosts, spec())
    assert "skylake-host" not in passing(superset, hosts, spec(ignore_hosts=["skylake-fred"]))
    assert "skylake-fred" in passing(superset, hosts, spec(ignore_hosts=["skylake-host"]))


def test_host_model_moves_need_the_sources_unknown_features(scheduler):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet(**{"skylake-fred": renamed("skylake", add=["fred"]), "icelake-fred": renamed("icelake", add=["fred"])})
    passing(manager, hosts, spec())
    assert passing(manager, hosts, spec(ignore_hosts=["skylake-fred"])) == [
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
    assert sorted(h.host for h in cpu_filter.filter_all(hosts, spec(ignore_hosts=["skylake-host"]))) == [
        "cascadelake-host", "icelake-host"]
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        for _ in range(2):
            assert len(cpu_filter.filter_all(hosts, spec(ignore_hosts=["gone-host"]))) == len(hosts)
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
    passed = CpuCompatFilter().filter_all(hosts, spec(ignore_hosts=["skylake-host"], context=context))
    assert sorted(h.host for h in passed) == ["cascadelake-host", "icelake-host"]


def an_instance_on(context, cell, host):
    """An instance row in the cell database and its mapping, as Nova keeps them."""
    from nova import context as nova_context
    from nova.db.main import api as main_db, models as main_models

    instance_uuid = str(uuid.uuid4())
    with nova_context.target_cell(context, cell) as cell_context:
        with main_db.get_context_manager(cell_context).writer.using(cell_context) as session:
            session.add(main_models.Instance(uuid=instance_uuid, host=host, project_id="p", user_id="u"))
    objects.InstanceMapping(context, instance_uuid=instance_uuid, cell_mapping=cell, project_id="p").create()
    return instance_uuid


def test_a_move_naming_no_source_asks_nova_where_the_instance_is_not_the_creation_hint(nova_database):
    from cpucompat.filters import CpuCompatFilter
    from cpucompat.filters.cpu_compat_filter import nova_instance_host

    context, cell = nova_database
    on_skylake, offloaded = an_instance_on(context, cell, "skylake-host"), an_instance_on(context, cell, None)
    assert nova_instance_host(context, on_skylake, cell) == "skylake-host"
    assert nova_instance_host(context, on_skylake) == "skylake-host"  # the cell from its instance mapping
    assert nova_instance_host(context, offloaded, cell) is None
    cpu_filter, hosts = CpuCompatFilter(), fleet()
    CONF.set_override("cpu_mode", "host-model", group="cpucompat")  # read again at the next request
    created_on = {"cpucompat_source_host": ["icelake-host"]}  # the hint of the server's creation, kept
    same_host_resize = spec(hints=created_on, destination=objects.Destination(cell=cell), context=context,
                            instance_uuid=on_skylake)
    assert sorted(h.host for h in cpu_filter.filter_all(hosts, same_host_resize)) == [
        "cascadelake-host", "icelake-host", "skylake-host"]
    unshelve = spec(hints=created_on, destination=objects.Destination(cell=cell), context=context,
                    instance_uuid=offloaded)
    assert len(cpu_filter.filter_all(hosts, unshelve)) == len(hosts)  # on no host: the boot rule


def test_the_instance_lookup_is_given_the_moves_cell_and_the_hint_is_the_fallback(plain_conf):
    from cpucompat.filters import CpuCompatFilter

    asked, answers = [], {"on-icelake": "icelake-host", "offloaded": None}

    def instance_host(context, instance_uuid, cell):
        asked.append((instance_uuid, cell.name))
        if instance_uuid not in answers:
            raise LookupError("no database")
        return answers[instance_uuid]

    cpu_filter, hosts = CpuCompatFilter(instance_host=instance_host), fleet()
    CONF.set_override("cpu_mode", "host-model", group="cpucompat")
    cpu_filter.filter_all(hosts, spec())
    hint = {"cpucompat_source_host": ["skylake-host"]}

    def passing_move(instance_uuid):
        request = spec(hints=hint, destination=a_move(), instance_uuid=instance_uuid)
        return sorted(h.host for h in cpu_filter.filter_all(hosts, request))

    assert passing_move("on-icelake") == ["icelake-host"]
    assert len(passing_move("offloaded")) == len(hosts)
    assert passing_move("unknown") == ["cascadelake-host", "icelake-host", "skylake-host"]
    assert asked == [("on-icelake", "cell1"), ("offloaded", "cell1"), ("unknown", "cell1")]
    cpu_filter.filter_all(hosts, spec(hints=hint))  # a boot asks nothing
    assert len(asked) == 3


ARM = {name: json.dumps({"arch": "aarch64", "model": model, "vendor": "ARM", "features": ["fp", "asimd"]})
       for name, model in (("arm-n1", "Neoverse-N1"), ("arm-n1-twin", "Neoverse-N1"), ("arm-v1", "Neoverse-V1"))}


def test_host_model_moves_from_a_non_x86_source_go_to_the_same_model_without_a_fault(scheduler, caplog):
    manager = scheduler("cpu_mode = host-model\n")
    hosts = fleet(**ARM)
    passing(manager, hosts, spec())
    with caplog.at_level(logging.DEBUG, logger="cpucompat.filters.cpu_compat_filter"):
        assert passing(manager, hosts, spec(ignore_hosts=["arm-n1"])) == ["arm-n1-twin"]
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
    from cpucompat.nova.scheduling import CpuPlacement, _host_cpu

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
