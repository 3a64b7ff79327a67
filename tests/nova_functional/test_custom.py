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


class CustomModelsByTraitTest(base.CpuCompatTestBase):
    """cpu_models = Haswell-noTSX, Skylake-Server: Nova's driver gives a guest
    the first model with the flavor's required traits, on any host, and
    Placement sees the union of the models' traits on every compute."""

    CPU_MODE = "custom"
    CPU_MODELS = ("Haswell-noTSX", "Skylake-Server")
    START_HOSTS = ("haswell", "skylake")

    def test_the_first_model_with_the_required_traits_is_the_guests(self):
        server = self.boot(host="haswell")
        self.assertIn("<model>Haswell-noTSX</model>", self.guest_cpu_xml(server))
        avx512 = self.flavor({"trait:HW_CPU_X86_AVX512F": "required"})
        server = self.boot(host="skylake", flavor_id=avx512)
        self.assertIn("<model>Skylake-Server</model>", self.guest_cpu_xml(server))

    def test_a_compute_that_cannot_run_the_chosen_model_is_refused_with_one_warning(self):
        avx512 = self.flavor({"trait:HW_CPU_X86_AVX512F": "required"})
        for _ in range(2):
            # Placement lets haswell through (its traits are Skylake-Server's too); Nova would give it
            # Skylake-Server, which it cannot run
            self.boot(host="haswell", flavor_id=avx512, expected_state="ERROR")
            self.assert_refused_by_filter("haswell")
        warnings = [line for line in self.logged().splitlines() if "cannot run CPU model Skylake-Server" in line]
        self.assertEqual(1, len(warnings), warnings)
        self.assertIn("1 compute (haswell)", warnings[0])
