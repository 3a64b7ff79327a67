"""cpucompat's options and their validation, on a bare oslo.config (no Nova).

Nova's own ``[libvirt]`` options are declared here as Nova declares the
three cpucompat falls back to (plus virt_type), so the fallback rules are
tested without Nova installed.
"""
from __future__ import annotations

import pytest
from oslo_config import cfg

from cpucompat.errors import InvalidConfig
from cpucompat.nova import config


@pytest.fixture()
def conf(tmp_path):
    """A ConfigOpts with cpucompat's group and a [libvirt] group shaped like Nova's."""

    def build(text: str = "", libvirt: bool = True) -> cfg.ConfigOpts:
        opts = cfg.ConfigOpts()
        config.register_opts(opts)
        if libvirt:
            opts.register_opts([cfg.StrOpt("cpu_mode"), cfg.ListOpt("cpu_models", default=[]),
                                cfg.ListOpt("cpu_model_extra_flags", default=[]), cfg.StrOpt("virt_type")],
                               group="libvirt")
        path = tmp_path / "nova.conf"
        path.write_text(text)
        opts(["--config-file", str(path)])
        return opts

    return build


def test_unset_everywhere_is_host_model_as_nova_for_kvm(conf):
    policy = config.load_policy(conf())
    assert (policy.mode, policy.models, policy.flags) == ("host-model", (), ())
    assert (policy.passthrough_match, policy.strict_host_model) == ("exact", True)
    assert config.load_policy(conf("[libvirt]\nvirt_type = lxc\n")).mode == "none"
    assert config.load_policy(conf(libvirt=False)).mode == "host-model"  # no Nova options at all


def test_each_option_falls_back_to_the_libvirt_section(conf):
    policy = config.load_policy(conf("[libvirt]\ncpu_mode = custom\ncpu_models = haswell-notsx\n"
                                     "cpu_model_extra_flags = +PCID, -mpx\n"))
    assert (policy.mode, policy.models) == ("custom", ("Haswell-noTSX",))  # libvirt's spelling
    assert policy.flags == (("pcid", "require"), ("mpx", "disable"))
    mixed = config.load_policy(conf("[cpucompat]\ncpu_mode = custom\n[libvirt]\ncpu_models = SandyBridge\n"))
    assert mixed.models == ("SandyBridge",)
    overridden = config.load_policy(conf("[cpucompat]\ncpu_mode = host-passthrough\n"
                                         "[libvirt]\ncpu_mode = custom\ncpu_models = SandyBridge\n"))
    assert (overridden.mode, overridden.models) == ("host-passthrough", ())


def test_deprecated_names_still_load(conf):
    policy = config.load_policy(conf("[DEFAULT]\nlibvirt_cpu_mode = custom\nlibvirt_cpu_model = Nehalem\n"))
    assert (policy.mode, policy.models) == ("custom", ("Nehalem",))


@pytest.mark.parametrize("text, message", [
    ("[cpucompat]\ncpu_mode = custom\n", r"cpu_mode=custom \(\[cpucompat\] cpu_mode\) needs a model"),
    ("[cpucompat]\ncpu_mode = host-model\ncpu_models = Haswell\n", "should not be set when cpu_mode=host-model"),
    ("[cpucompat]\ncpu_mode = custom\ncpu_models = Haswel\n", "did you mean"),
    ("[cpucompat]\ncpu_model_extra_flags = +nosuchflag\n", "nosuchflag"),
    ("[libvirt]\ncpu_mode = maximal\n", r"\[libvirt\] cpu_mode: cpu_mode 'maximal' is not one of"),
    ("[cpucompat]\ncpu_map = /nonexistent/cpu_map\n", r"\[cpucompat\] cpu_map: cannot load cpu_map"),
])
def test_bad_configuration_is_one_invalid_config_naming_its_section(conf, text, message):
    with pytest.raises(InvalidConfig, match=message):
        config.load_policy(conf(text))


def test_flags_parse_as_nova_lowercases_and_dedups_them():
    from cpucompat.engine.cpumap import embedded_cpu_map

    assert config.parse_flags(["+VMX", "vmx", " ", "-avx2"], embedded_cpu_map()) == (
        ("vmx", "require"), ("avx2", "disable"))


def test_the_sample_generator_lists_every_option():
    [(group, opts)] = config.list_opts()
    assert group.name == "cpucompat"
    assert [opt.name for opt in opts] == ["cpu_mode", "cpu_models", "cpu_model_extra_flags", "cpu_map",
                                          "passthrough_match", "strict_host_model", "cache_size"]
