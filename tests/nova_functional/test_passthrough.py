"""host-passthrough computes: a live migration needs an identical host CPU."""
from nova_functional import base


class HostPassthroughTest(base.CpuCompatTestBase):
    CPU_MODE = "host-passthrough"

    def test_boot_gives_the_guest_the_host_cpu(self):
        server = self.boot(host="skylake")
        self.assertIn('mode="host-passthrough"', self.guest_cpu_xml(server))

    def test_live_migration_to_an_identical_cpu_is_accepted(self):
        server = self.boot(host="icelake1")
        self._live_migrate(server, host="icelake2")
        self.assert_accepted_by_filter("icelake2")
        self.assertEqual("icelake2", self.host_of(server))

    def test_live_migration_without_a_host_goes_only_to_an_identical_cpu(self):
        server = self.boot(host="icelake2")
        self._live_migrate(server)
        self.assertEqual(["icelake1"], self.last_observed()["passed"])
        self.assertEqual("icelake1", self.host_of(server))

    def test_live_migration_new_to_old_is_refused(self):
        server = self.boot(host="icelake1")
        self.post_action(server, {"os-migrateLive": {"host": "skylake", "block_migration": "auto"}})
        self.assert_refused_by_filter("skylake")
        self._wait_for_migration_status(server, ["error"])
        self.assert_stays(server, "icelake1")

    def test_live_migration_old_to_new_is_refused(self):
        # a superset is not enough: the guest would see its CPU change under it
        server = self.boot(host="skylake")
        self.post_action(server, {"os-migrateLive": {"host": "icelake1", "block_migration": "auto"}})
        self.assert_refused_by_filter("icelake1")
        self._wait_for_migration_status(server, ["error"])
        self.assert_stays(server, "skylake")

    def test_cold_migration_to_another_cpu_uses_the_boot_rule(self):
        server = self.boot(host="icelake1")
        self.post_action(server, {"migrate": {"host": "skylake"}})
        seen = self.last_observed()
        self.assertEqual("resize_prep", seen["task_state"])
        self.assertIn("skylake", seen["hosts"])
        self.assertIn("skylake", seen["passed"])  # defined anew: the new host's CPU
        self.assert_stays(server, "skylake", "VERIFY_RESIZE")
