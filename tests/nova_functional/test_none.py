"""cpu_mode = none: QEMU's default CPU (qemu64), the same on every host."""
from nova_functional import base


class NoCpuModelTest(base.CpuCompatTestBase):
    CPU_MODE = "none"
    START_HOSTS = ("haswell", "epyc")

    def test_live_migration_across_vendors_is_accepted(self):
        server = self.boot(host="epyc")
        self.assertNotIn("mode=", self.guest_cpu_xml(server))
        self._live_migrate(server, host="haswell")
        self.assert_accepted_by_filter("haswell")
        self.assertEqual("haswell", self.host_of(server))
