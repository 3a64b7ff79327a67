"""host-model computes (Nova's default): every operation through the real API.

Hosts (real CPUs): haswell (Haswell-noTSX), skylake (Skylake-Server),
icelake1 and icelake2 (the same Icelake-Server), epyc (EPYC-Rome).  A
host-model guest started on Ice Lake runs Ice Lake's host-model CPU: only a
live migration carries it, so only a live migration needs a destination
that runs it (icelake2); every other move defines the guest anew on the
destination (issue 13).
"""
from nova_functional import base


class HostModelTest(base.CpuCompatTestBase):
    CPU_MODE = "host-model"

    def expect_boot_rule(self, host: str) -> None:
        """The move was judged by the boot rule: the older host, which cannot
        run the Ice Lake guest's CPU live, was accepted."""
        self.assert_accepted_by_filter(host)

    # -- boots -------------------------------------------------------------------------
    def test_boot_lands_on_every_host(self):
        for host in base.HOSTS:
            server = self.boot(host=host)
            self.assertEqual(host, self.host_of(server))
            self.assertIn('mode="host-model"', self.guest_cpu_xml(server))
            seen = self.last_observed()
            self.assertEqual({"host": host, "node": host}, seen["destination"])
            self.assertEqual("no cell yet (build request)", seen["lookup"])

    # -- live migration: the guest keeps its CPU ------------------------------------------
    def test_live_migration_new_to_old_is_refused(self):
        server = self.boot(host="icelake1")
        error = self.post_action(server, {"os-migrateLive": {"host": "haswell", "block_migration": "auto"}})
        seen = self.assert_refused_by_filter("haswell")
        self.assertEqual("migrating", seen["task_state"])
        self.assertIn("live-migration:accepted", seen["migrations"])
        self.assertEqual(["icelake1"], seen["ignore_hosts"])
        self._wait_for_migration_status(server, ["error"])
        self.assert_stays(server, "icelake1")
        # a cast in a real cloud (the API answers 202); a call here, so the API reports it
        self.assertIsNotNone(error, "the API accepted a live migration no host can take")
        self.assertIn("NoValidHost", str(error))

    def test_live_migration_old_to_new_is_accepted(self):
        server = self.boot(host="haswell")
        self._live_migrate(server, host="icelake1")
        self.assert_accepted_by_filter("icelake1")
        self.assertEqual("icelake1", self.host_of(server))

    def test_live_migration_without_a_host_goes_only_to_an_equal_cpu(self):
        server = self.boot(host="icelake1")
        self._live_migrate(server)
        seen = self.last_observed()
        self.assertEqual(["epyc", "haswell", "icelake2", "skylake"], seen["hosts"])
        self.assertEqual(["icelake2"], seen["passed"])
        self.assertEqual({"cell": "cell1", "allow_cross_cell_move": False},
                         {k: v for k, v in seen["destination"].items() if v is not None})
        self.assertEqual("icelake2", self.host_of(server))

    def test_live_migration_after_scheduler_restart_reads_the_source_from_nova(self):
        server = self.boot(host="icelake1")
        first = self.cpucompat_filter()
        self.scheduler.stop()
        self.scheduler = self.start_service("scheduler")
        self.observed.clear()
        self.post_action(server, {"os-migrateLive": {"host": "haswell", "block_migration": "auto"}})
        # the new scheduler never saw icelake1: Nova strips the source from a move's hosts
        self.assertNotIn("icelake1", {h for seen in self.observed for h in seen["hosts"]})
        self.assertIsNot(first, self.cpucompat_filter())
        self.assert_refused_by_filter("haswell")
        self._wait_for_migration_status(server, ["error"])
        self.assert_stays(server, "icelake1")

    # -- every other move defines the guest anew: the boot rule ----------------------------------
    def test_cold_migration_new_to_old_uses_the_boot_rule(self):
        server = self.boot(host="icelake1")
        self.post_action(server, {"migrate": {"host": "haswell"}})
        seen = self.last_observed()
        self.assertEqual("resize_prep", seen["task_state"])
        self.assertEqual(["icelake1"], seen["ignore_hosts"])
        self.assertEqual("haswell", seen["destination"]["host"])
        self.assertEqual(["migration:pre-migrating"], seen["migrations"])
        self.expect_boot_rule("haswell")
        self.assert_stays(server, "haswell", "VERIFY_RESIZE")

    def test_resize_new_to_old_uses_the_boot_rule(self):
        server = self.boot(host="icelake1")
        self.only_hosts_enabled("icelake1", "haswell")
        bigger = self.flavor(memory_mb=1024)
        self.post_action(server, {"resize": {"flavorRef": bigger}})
        seen = self.last_observed()
        self.assertEqual("resize_prep", seen["task_state"])
        self.assertEqual(["icelake1"], seen["ignore_hosts"])
        self.assertEqual(["resize:pre-migrating"], seen["migrations"])
        self.expect_boot_rule("haswell")
        self.assert_stays(server, "haswell", "VERIFY_RESIZE")

    def test_resize_to_the_same_host(self):
        self.flags(allow_resize_to_same_host=True)
        server = self.boot(host="icelake1")
        self.only_hosts_enabled("icelake1")
        bigger = self.flavor(memory_mb=1024)
        self._resize_server(server, bigger)
        seen = self.assert_accepted_by_filter("icelake1")
        self.assertEqual("resize_prep", seen["task_state"])
        self.assertEqual([], seen["ignore_hosts"])  # nothing names the source: Nova is asked
        self.assertEqual("icelake1", seen["instance_host"])
        self.assertEqual("icelake1", self.host_of(server))

    def test_evacuation_off_the_newest_host_uses_the_boot_rule(self):
        server = self.boot(host="icelake1")
        self.only_hosts_enabled("icelake1", "haswell")
        self.force_down("icelake1")
        self.post_action(server, {"evacuate": {"host": "haswell"}})
        seen = self.last_observed()
        self.assertEqual("rebuilding", seen["task_state"])
        self.assertEqual(["icelake1"], seen["ignore_hosts"])
        self.assertEqual(["evacuation:accepted"], seen["migrations"])
        self.assertIsNone(seen["check_type"])  # evacuate is no "rebuild" for filters
        self.expect_boot_rule("haswell")
        self.assert_stays(server, "haswell", "SHUTOFF")

    def test_unshelve_of_an_offloaded_guest_uses_the_boot_rule(self):
        self.flags(shelved_offload_time=0)
        server = self.boot(host="icelake1")
        self._shelve_server(server, "SHELVED_OFFLOADED")
        self.post_action(server, {"unshelve": {"host": "haswell"}})
        seen = self.assert_accepted_by_filter("haswell")
        self.assertEqual("unshelving", seen["task_state"])
        self.assertIsNone(seen["instance_host"])
        self.assertEqual([], seen["migrations"])
        self.assert_stays(server, "haswell")

    def test_rebuild_with_a_new_image_passes_its_own_host(self):
        server = self.boot(host="icelake1")
        self.post_action(server, {"rebuild": {"imageRef": self.glance.image4["id"]}})
        seen = self.assert_accepted_by_filter("icelake1")
        # the same task_state as an evacuation: only the hint tells them apart
        self.assertEqual("rebuilding", seen["task_state"])
        self.assertEqual(["rebuild"], seen["check_type"])
        self.assertEqual([], seen["migrations"])
        self.assert_stays(server, "icelake1")

    # -- flavors ------------------------------------------------------------------------------
    def test_flavor_required_trait_reaches_only_hosts_with_the_feature(self):
        avx512 = self.flavor({"trait:HW_CPU_X86_AVX512F": "required"})
        server = self.boot(flavor_id=avx512)
        self.assertIn(self.host_of(server), ("skylake", "icelake1", "icelake2"))
        self.boot(host="haswell", flavor_id=avx512, expected_state="ERROR")

    def test_flavor_forbidden_trait_keeps_guests_off_hosts_with_the_feature(self):
        no_avx512 = self.flavor({"trait:HW_CPU_X86_AVX512F": "forbidden"})
        server = self.boot(flavor_id=no_avx512)
        self.assertIn(self.host_of(server), ("haswell", "epyc"))
        self.boot(host="icelake1", flavor_id=no_avx512, expected_state="ERROR")

    def test_guest_cpu_is_the_computes_mode_whatever_the_flavor_says(self):
        # Nova has no per-flavor CPU mode: the compute's [libvirt] cpu_mode decides
        skylake_model = self.flavor({"cpucompat:cpu_model": "Skylake-Server"})
        server = self.boot(host="icelake1", flavor_id=skylake_model)
        self.assertIn('mode="host-model"', self.guest_cpu_xml(server))
        self.assertNotIn("Skylake", self.guest_cpu_xml(server))
        # an Ice Lake host-model guest: a Skylake host cannot take it live
        self.post_action(server, {"os-migrateLive": {"host": "skylake", "block_migration": "auto"}})
        self.assert_refused_by_filter("skylake")
        self._wait_for_migration_status(server, ["error"])
        self.assert_stays(server, "icelake1")

    def test_flavor_cpu_model_is_a_requirement_of_the_host(self):
        icelake_model = self.flavor({"cpucompat:cpu_model": "Icelake-Server"})
        self.boot(host="icelake1", flavor_id=icelake_model)
        server = self.boot_and_settle(host="haswell", flavor_id=icelake_model)
        seen = self.last_observed()
        self.assertEqual(["haswell"], seen["hosts"])
        self.assertEqual([], seen["passed"])
        self.assertEqual("ERROR", server["status"])

    def test_flavor_cpu_mode_is_refused_on_every_host(self):
        custom = self.flavor({"cpucompat:cpu_mode": "custom", "cpucompat:cpu_model": "Skylake-Server"})
        server = self.boot_and_settle(host="icelake1", flavor_id=custom)
        seen = self.last_observed()
        self.assertEqual(["icelake1"], seen["hosts"])
        self.assertEqual([], seen["passed"])
        self.assertEqual("ERROR", server["status"])

    def test_flavor_cpu_flags_are_a_requirement_of_the_host(self):
        avx512 = self.flavor({"cpucompat:cpu_flags": "+avx512f"})
        server = self.boot_and_settle(host="haswell", flavor_id=avx512)
        self.assert_refused_by_filter("haswell")
        self.assertEqual("ERROR", server["status"])
        server = self.boot(host="skylake", flavor_id=avx512)
        self.assertIn('mode="host-model"', self.guest_cpu_xml(server))  # a requirement, not the guest's CPU

    def test_flavor_requirement_counts_on_a_cold_move_too(self):
        icelake_model = self.flavor({"cpucompat:cpu_model": "Icelake-Server"})
        server = self.boot(host="icelake1", flavor_id=icelake_model)
        self.post_action(server, {"migrate": {"host": "skylake"}})
        self.assert_refused_by_filter("skylake")
        self.assert_stays(server, "icelake1")

    def test_flavor_cpu_mode_warns_once_naming_the_flavor(self):
        custom = self.flavor({"cpucompat:cpu_mode": "custom"}, name="old-custom-cpu")
        for host in ("icelake1", "haswell"):
            self.boot_and_settle(host=host, flavor_id=custom)
        warnings = [line for line in self.logged().splitlines() if "flavor old-custom-cpu sets" in line]
        self.assertEqual(1, len(warnings), warnings)
        self.assertIn("[libvirt] cpu_mode", warnings[0])

    # -- aggregates and images --------------------------------------------------------------------
    def test_an_aggregates_model_is_checked_on_its_hosts(self):
        # computes of this aggregate are (said to be) configured with cpu_models = Icelake-Server
        self.aggregate("icelake-model", ["haswell", "icelake1"], {"cpucompat_cpu_model": "Icelake-Server"})
        self.boot(host="haswell", expected_state="ERROR")
        self.assert_refused_by_filter("haswell")
        self.boot(host="icelake1")
        self.assert_accepted_by_filter("icelake1")

    def test_an_images_required_trait_keeps_guests_on_hosts_with_the_feature(self):
        image = {"id": "c456eb30-91d7-4f43-8f46-2efd9eccd744", "name": "avx512-image", "status": "active",
                 "container_format": "bare", "disk_format": "qcow2", "size": 1,
                 "properties": {"trait:HW_CPU_X86_AVX512F": "required"}}
        self.glance.create(None, image)
        server = self.boot(image_uuid=image["id"])
        self.assertIn(self.host_of(server), ("skylake", "icelake1", "icelake2"))
        self.assertTrue(all(h in ("skylake", "icelake1", "icelake2") for h in self.last_observed()["passed"]))

    # -- bad rows ---------------------------------------------------------------------------------
    def test_bad_cpu_info_rows_refuse_only_their_hosts(self):
        self.set_cpu_info("skylake", '{"arch": "x86_64", "model": ')
        self.set_cpu_info("haswell", "")
        self.boot(host="skylake", expected_state="ERROR")
        self.assert_refused_by_filter("skylake")
        self.boot(host="haswell", expected_state="ERROR")
        self.assert_refused_by_filter("haswell")
        server = self.boot(host="epyc")
        self.assertEqual("epyc", self.host_of(server))

    def test_bad_cpu_info_of_a_move_source_does_not_break_scheduling(self):
        server = self.boot(host="icelake1")
        self.set_cpu_info("icelake1", "[1, 2")
        self.scheduler.stop()  # a scheduler that never saw icelake1's good row
        self.scheduler = self.start_service("scheduler")
        self._live_migrate(server, host="icelake2")
        self.assert_accepted_by_filter("icelake2")
        self.assertEqual("icelake2", self.host_of(server))
