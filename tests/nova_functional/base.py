"""A Nova 34 functional-test base whose fake-libvirt computes have real CPUs.

Nova's ``ServersTestBase`` runs the real API, conductor, scheduler and
Placement in one process with fake-libvirt computes.  Its fake connection
reports a Penryn host whatever the test wants; ``RealCpuConnection``
reports a real CPU instead: the ``cpu_info`` JSON of a real host (from
``tests/data/nova``) as the host ``<cpu>`` of the capabilities, and
``baselineCPU(..., EXPAND_FEATURES)`` answered by cpucompat's libvirt-exact
``expand``, so the compute writes the ``cpu_info`` that host would and
reports the CPU traits it would.

``CpuCompatTestBase`` enables the filter as an operator does (nova.conf
``[filter_scheduler] available_filters`` + ``enabled_filters``, the mode in
``[libvirt]``) and records what the filter sees on every scheduling request
(``self.observed``), read from the RequestSpec and from Nova's cell
database, so each test can say how Nova tells its move kinds apart.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import urllib.parse
from pathlib import Path

import fixtures
from cpucompat.filters import CpuCompatFilter
from lxml import etree
from nova import conf as nova_conf
from nova import context as nova_context
from nova import exception, objects
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional import integrated_helpers
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import base as libvirt_base

from cpucompat import baseline, expand, parse_cpus
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.nova import config as cpucompat_config

# the libvirt release of the computes: tests/data/nova holds cpu_info libvirt 9.0.0 reported
COMPUTES_LIBVIRT = "9.0.0"

DATA = Path(__file__).resolve().parent.parent / "data" / "nova"

# host name → the real CPU it reports (tests/data/nova/<file>.json, Nova's cpu_info of that host)
HOSTS = {
    "haswell": "haswell.json",        # Haswell-noTSX (Intel, 2013)
    "skylake": "skylake.json",        # Skylake-Server (Intel, 2017)
    "icelake1": "icelake.json",       # Icelake-Server (Intel, 2019)
    "icelake2": "icelake.json",       # the same CPU: passthrough's only partner
    "epyc": "epyc-rome.json",         # EPYC-Rome (AMD, 2019)
}

FILTER_PATH = "cpucompat.filters.CpuCompatFilter"
CONF = nova_conf.CONF


def host_cpu_info(hostname: str) -> dict:
    """The cpu_info of `hostname`'s real CPU, as tests/data/nova holds it."""
    return json.loads((DATA / HOSTS[hostname]).read_text())


def api_paste_ini() -> str:
    """Nova's api-paste.ini as its wheel installed it (a data file under the
    prefix, ``<prefix>/etc/nova``): Nova's test config looks for it under
    ``site-packages/etc/nova`` instead, where pip never puts it."""
    for path in importlib.metadata.distribution("nova").files or ():
        if str(path).endswith("etc/nova/api-paste.ini"):
            return str(path.locate())
    raise RuntimeError("nova's api-paste.ini is not installed (pip install nova)")


def _cpu_xml(model: str | None, vendor: str | None, features, arch: str = "x86_64",
             topology: str = "") -> str:
    parts = ["<cpu>", f"<arch>{arch}</arch>"]
    if model:
        parts.append(f"<model>{model}</model>")
    if vendor:
        parts.append(f"<vendor>{vendor}</vendor>")
    parts.append(topology)
    parts.extend(f"<feature name='{name}'/>" for name in sorted(features))
    parts.append("</cpu>")
    return "".join(parts)


class RealCpuConnection(fakelibvirt.Connection):
    """fakelibvirt's connection reporting a real host CPU."""

    def __init__(self, *args, cpu_info: dict, **kwargs):
        self.real_cpu = cpu_info
        self.domain_xml: dict[str, str] = {}  # guest uuid → the domain XML Nova last gave libvirt
        super().__init__(*args, **kwargs)

    def _remember(self, xml: str) -> None:
        self.domain_xml[etree.fromstring(xml).findtext("./uuid")] = xml

    def defineXML(self, xml):
        self._remember(xml)
        return super().defineXML(xml)

    def createXML(self, xml, flags):
        self._remember(xml)
        return super().createXML(xml, flags)

    def getCapabilities(self):
        root = etree.fromstring(super().getCapabilities())
        fake = root.find("./host/cpu")
        topology = fake.find("./topology")
        pages = "".join(etree.tostring(p, encoding="unicode") for p in fake.findall("./pages"))
        cpu = self.real_cpu
        real = etree.fromstring(_cpu_xml(cpu["model"], cpu["vendor"], cpu["features"], cpu["arch"],
                                         etree.tostring(topology, encoding="unicode") + pages))
        fake.getparent().replace(fake, real)
        return etree.tostring(root, encoding="unicode")

    def baselineCPU(self, cpus, flags):
        """libvirt's answer, from cpucompat (libvirt-exact): the host CPU's
        full feature list for Nova's cpu_info, a model's for its traits.
        The computes run libvirt 9.0.0, whose recorded cpu_info these CPUs are."""
        computes_map = resolve_map_spec(COMPUTES_LIBVIRT)
        parsed = [cpu for xml in cpus for cpu in parse_cpus(xml, cpumap=computes_map)]
        result = expand(parsed[0], computes_map) if len(parsed) == 1 else baseline(parsed, computes_map)
        if flags & fakelibvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES:
            features = result.expanded
        else:
            features = result.features
        return _cpu_xml(result.model, result.vendor, features).replace(
            "<cpu>", "<cpu mode='custom' match='exact'>", 1).replace("<arch>x86_64</arch>", "")

    def getCPUModelNames(self, arch):
        if arch in ("x86_64", "i686"):
            return list(resolve_map_spec(COMPUTES_LIBVIRT).x86.model_by_name)
        return super().getCPUModelNames(arch)


class CpuCompatTestBase(libvirt_base.LibvirtMigrationMixin, libvirt_base.ServersTestBase,
                        integrated_helpers.InstanceHelperMixin):
    """Five fake-libvirt computes with real CPUs and CpuCompatFilter enabled."""

    ADMIN_API = True
    microversion = "latest"
    ADDITIONAL_FILTERS = ("CpuCompatFilter",)
    CPU_MODE = "host-model"   # [libvirt] cpu_mode of every compute (and so of the filter)
    CPU_MODELS: tuple[str, ...] = ()  # [libvirt] cpu_models
    START_HOSTS = tuple(HOSTS)

    def setUp(self):
        # nova.conf as an operator writes it; the [cpucompat] group is registered
        # the way the filter does, so tests may set its options too
        if "cpucompat" not in CONF:
            cpucompat_config.register_opts(CONF)
        self.flags(api_paste_config=api_paste_ini(), group="wsgi")
        self.flags(available_filters=["nova.scheduler.filters.all_filters", FILTER_PATH],
                   group="filter_scheduler")
        self.flags(cpu_mode=self.CPU_MODE, cpu_models=list(self.CPU_MODELS), group="libvirt")
        # fake-libvirt's compareCPU checks only the model name: keep it out of the way
        self.flags(skip_cpu_compare_on_dest=True, skip_cpu_compare_at_startup=True, group="workarounds")
        self.flags(shelved_offload_time=-1)  # offload only when a test asks for it
        super().setUp()
        # the disk copy of a resize is not what these tests are about (as in Nova's own tests)
        self.useFixture(fixtures.MockPatch(
            "nova.virt.libvirt.driver.LibvirtDriver.migrate_disk_and_power_off", return_value="{}"))
        self.observed: list[dict] = []
        self.useFixture(fixtures.MonkeyPatch(
            "cpucompat.filters.cpu_compat_filter.CpuCompatFilter.filter_all", self._spy(CpuCompatFilter.filter_all)))
        for hostname in self.START_HOSTS:
            self.start_compute(hostname=hostname)

    # -- fake libvirt with real CPUs ------------------------------------------------
    def _get_connection(self, host_info=None, pci_info=None, mdev_info=None, vdpa_info=None,
                        libvirt_version=None, qemu_version=None, hostname=None):
        host_info = host_info or fakelibvirt.HostInfo(cpu_nodes=1, cpu_sockets=1, cpu_cores=2, cpu_threads=2)
        return RealCpuConnection(
            "qemu:///system", version=libvirt_version or fakelibvirt.FAKE_LIBVIRT_VERSION,
            hv_version=qemu_version or fakelibvirt.FAKE_QEMU_VERSION, host_info=host_info,
            pci_info=pci_info, mdev_info=mdev_info, vdpa_info=vdpa_info, hostname=hostname,
            cpu_info=host_cpu_info(hostname))

    def _migrate_stub(self, domain, destination, params, flags):
        """A live migration libvirt completes: the guest appears on the
        destination named by the migration URI and the job ends."""
        dest = self.computes[urllib.parse.urlsplit(destination).hostname]
        dest.driver._host.get_connection().createXML(params["destination_xml"], "fake-flags")
        domain.complete_job()
        self.migrate_stub_ran = True

    # -- what the filter sees ----------------------------------------------------------
    def _spy(self, filter_all):
        test = self

        def spy(filter_self, filter_obj_list, spec_obj):
            hosts = list(filter_obj_list)
            passed = filter_all(filter_self, hosts, spec_obj)
            seen = observe(spec_obj)
            seen["hosts"] = sorted(h.host for h in hosts)
            seen["passed"] = sorted(h.host for h in passed)
            test.observed.append(seen)
            path = os.environ.get("CPUCOMPAT_OBSERVATIONS")
            if path:  # the table of docs/research/nova-moves.md is made from these lines
                with open(path, "a") as out:
                    out.write(json.dumps({"test": test.id(), **seen}, sort_keys=True) + "\n")
            return passed

        return spy

    # -- helpers ---------------------------------------------------------------------------
    def boot(self, host: str | None = None, flavor_id=None, expected_state="ACTIVE", image_uuid=None):
        return self._create_server(host=host, flavor_id=flavor_id, networks="none",
                                   expected_state=expected_state, image_uuid=image_uuid)

    def boot_and_settle(self, host: str | None = None, flavor_id=None) -> dict:
        """Boot without expecting an outcome (RPC casts run as calls here, so
        the build is over when the API answers)."""
        body = self._build_server(flavor_id=flavor_id, networks="none", host=host)
        return self._show_server(self.admin_api.post_server({"server": body}))

    def host_of(self, server) -> str | None:
        return self._show_server(server)["OS-EXT-SRV-ATTR:host"]

    def flavor(self, extra_specs: dict | None = None, **kwargs) -> str:
        flavor_id = self._create_flavor(memory_mb=kwargs.pop("memory_mb", 512), vcpu=kwargs.pop("vcpu", 1),
                                        disk=kwargs.pop("disk", 1), extra_spec=extra_specs, **kwargs)
        return flavor_id

    def only_hosts_enabled(self, *hosts: str) -> None:
        """Disable every compute service but `hosts`, as an operator would."""
        for service in self.admin_api.get_services(binary="nova-compute"):
            if service["host"] not in hosts:
                self.admin_api.put_service(service["id"], {"status": "disabled"})

    def guest_cpu_xml(self, server) -> str:
        """The <cpu> element of the guest's libvirt domain on its host."""
        conn = self.computes[self.host_of(server)].driver._host.get_connection()
        cpu = etree.fromstring(conn.domain_xml[server["id"]]).find("./cpu")
        return "" if cpu is None else etree.tostring(cpu, encoding="unicode")

    def cpucompat_filter(self) -> CpuCompatFilter:
        """The filter instance the running scheduler loaded from nova.conf."""
        found = [f for f in self.scheduler.manager.host_manager.enabled_filters if isinstance(f, CpuCompatFilter)]
        self.assertEqual(1, len(found), "CpuCompatFilter is not enabled once in the scheduler")
        return found[0]

    def last_observed(self) -> dict:
        """What the filter saw on the last scheduling request."""
        self.assertTrue(self.observed, "CpuCompatFilter was never called")
        return self.observed[-1]

    def attempt(self, action, *args, **kwargs):
        """Run an API action that may be refused; the API's error, or None."""
        try:
            action(*args, **kwargs)
        except client.OpenStackApiException as exc:
            return exc
        return None

    def post_action(self, server, body: dict):
        return self.attempt(self.admin_api.post_server_action, server["id"], body)

    def force_down(self, hostname: str) -> None:
        """The compute on `hostname` stops and is forced down: evacuation's precondition."""
        self.computes[hostname].stop()
        service = self.admin_api.get_services(host=hostname, binary="nova-compute")[0]
        self.admin_api.put_service(service["id"], {"forced_down": "true"})

    def assert_stays(self, server, host: str, status: str = "ACTIVE") -> None:
        shown = self._wait_for_state_change(server, status)
        self.assertEqual(host, shown["OS-EXT-SRV-ATTR:host"])

    def assert_refused_by_filter(self, host: str) -> dict:
        """The last request reached CpuCompatFilter with `host` and the filter refused it."""
        seen = self.last_observed()
        self.assertIn(host, seen["hosts"], "Placement or another filter removed the host first")
        self.assertNotIn(host, seen["passed"], f"CpuCompatFilter accepted {host}: {seen}")
        return seen

    def assert_accepted_by_filter(self, host: str) -> dict:
        seen = self.last_observed()
        self.assertIn(host, seen["hosts"], "Placement or another filter removed the host first")
        self.assertIn(host, seen["passed"], f"CpuCompatFilter refused {host}: {seen}")
        return seen

    def aggregate(self, name: str, hosts, metadata: dict) -> None:
        """A host aggregate holding `hosts`, with `metadata`, made through the API as an operator does."""
        aggregate = self.admin_api.post_aggregate({"aggregate": {"name": name}})
        for host in hosts:
            self.admin_api.add_host_to_aggregate(aggregate["id"], host)
        self.admin_api.post_aggregate_action(aggregate["id"], {"set_metadata": {"metadata": metadata}})

    def logged(self) -> str:
        """Everything logged so far (Nova's StandardLogging fixture)."""
        return self.stdlog.logger.output

    def set_cpu_info(self, hostname: str, cpu_info) -> None:
        """Write a cpu_info row into the compute_nodes table of the host's cell."""
        ctxt = nova_context.get_admin_context()
        cell = objects.HostMapping.get_by_host(ctxt, hostname).cell_mapping
        with nova_context.target_cell(ctxt, cell) as cctxt:
            for node in objects.ComputeNodeList.get_all_by_host(cctxt, hostname):
                node.cpu_info = cpu_info
                node.save()


def observe(spec_obj) -> dict:
    """What a filter can know about a request: the RequestSpec fields that
    differ between operations, and the instance's task_state and in-progress
    migrations as Nova's cell database holds them."""
    destination = spec_obj.requested_destination if "requested_destination" in spec_obj else None
    hints = dict(spec_obj.scheduler_hints) if "scheduler_hints" in spec_obj and spec_obj.scheduler_hints else {}
    seen = {
        "ignore_hosts": list(spec_obj.ignore_hosts or []) if "ignore_hosts" in spec_obj else None,
        "force_hosts": list(spec_obj.force_hosts or []) if "force_hosts" in spec_obj else None,
        "destination": None if destination is None else {
            field: (getattr(destination, field).name if field == "cell" and getattr(destination, field)
                    else getattr(destination, field))
            for field in ("host", "node", "cell", "allow_cross_cell_move") if field in destination},
        "check_type": hints.get("_nova_check_type"),
        "flavor": spec_obj.flavor.name if "flavor" in spec_obj and spec_obj.flavor else None,
        "task_state": None, "vm_state": None, "instance_host": None, "migrations": [],
    }
    ctxt = nova_context.get_admin_context()
    try:
        cell = objects.InstanceMapping.get_by_instance_uuid(ctxt, spec_obj.instance_uuid).cell_mapping
    except exception.InstanceMappingNotFound as exc:
        seen["lookup"] = type(exc).__name__
        return seen
    if cell is None:  # a boot: the instance is still a build request in the API database
        seen["lookup"] = "no cell yet (build request)"
        return seen
    with nova_context.target_cell(ctxt, cell) as cctxt:
        instance = objects.Instance.get_by_uuid(cctxt, spec_obj.instance_uuid, expected_attrs=[])
        seen.update(task_state=instance.task_state, vm_state=instance.vm_state, instance_host=instance.host)
        seen["migrations"] = sorted(
            f"{m.migration_type}:{m.status}"
            for m in objects.MigrationList.get_by_filters(cctxt, {"instance_uuid": spec_obj.instance_uuid})
            if m.status not in ("completed", "confirmed", "reverted", "error", "failed", "done", "cancelled"))
    return seen
