"""custom computes (cpu_models = Haswell-noTSX): the guest's CPU is that
model everywhere, so it boots and moves wherever the model runs."""
from nova_functional import base


class CustomModelTest(base.CpuCompatTestBase):
    CPU_MODE = "custom"
    CPU_MODELS = ("Haswell-noTSX",)

    def test_boot_lands_only_where_the_model_runs(self):
        for host in ("haswell", "skylake", "icelake1"):
            server = self.boot(host=host)
            self.assertIn("<model>Haswell-noTSX</model>", self.guest_cpu_xml(server))
        self.boot(host="epyc", expected_state="ERROR")  # an Intel model on an AMD host
        self.assert_refused_by_filter("epyc")

    def test_live_migration_new_to_old_is_accepted(self):
        server = self.boot(host="icelake1")
        self._live_migrate(server, host="haswell")
        self.assert_accepted_by_filter("haswell")
        self.assertEqual("haswell", self.host_of(server))

    def test_live_migration_to_a_host_that_cannot_run_the_model_is_refused(self):
        server = self.boot(host="icelake1")
        self.post_action(server, {"os-migrateLive": {"host": "epyc", "block_migration": "auto"}})
        self.assert_refused_by_filter("epyc")
        self._wait_for_migration_status(server, ["error"])
        self.assert_stays(server, "icelake1")
