"""The harness itself: computes report the real CPUs, the filter comes from nova.conf."""
import json

from nova import context as nova_context
from nova import objects

from nova_functional import base


class HarnessTest(base.CpuCompatTestBase):

    def test_each_compute_reports_its_real_cpu_in_cpu_info(self):
        ctxt = nova_context.get_admin_context()
        cell = objects.CellMapping.get_by_uuid(ctxt, self.cell_mappings["cell1"].uuid)
        with nova_context.target_cell(ctxt, cell) as cctxt:
            nodes = {node.host: json.loads(node.cpu_info) for node in objects.ComputeNodeList.get_all(cctxt)}
        self.assertEqual(sorted(base.HOSTS), sorted(nodes))
        for host, cpu_info in nodes.items():
            real = base.host_cpu_info(host)
            self.assertEqual((real["model"], real["vendor"]), (cpu_info["model"], cpu_info["vendor"]), host)
            self.assertEqual(sorted(real["features"]), sorted(cpu_info["features"]), host)

    def test_placement_traits_come_from_the_real_cpu(self):
        icelake = self._get_provider_traits(self.compute_rp_uuids["icelake1"])
        haswell = self._get_provider_traits(self.compute_rp_uuids["haswell"])
        epyc = self._get_provider_traits(self.compute_rp_uuids["epyc"])
        self.assertIn("HW_CPU_X86_AVX512F", icelake)
        self.assertNotIn("HW_CPU_X86_AVX512F", haswell)
        self.assertIn("HW_CPU_X86_AVX2", haswell)
        self.assertIn("HW_CPU_X86_SVM", epyc)

    def test_the_filter_is_loaded_from_nova_conf_with_the_computes_mode(self):
        self.assertIn("CpuCompatFilter", self.flags_enabled_filters())
        self.assertEqual("host-model", self.cpucompat_filter().placement.policy.mode)

    def flags_enabled_filters(self):
        return list(base.CONF.filter_scheduler.enabled_filters)
