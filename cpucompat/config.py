"""cpucompat's oslo.config options, declared once.

They live in their own group ``[cpucompat]``: re-registering Nova's
``[libvirt]`` options would raise DuplicateOptError.  The seed's names
(``[DEFAULT] libvirt_cpu_mode`` / ``libvirt_cpu_model``) keep working as
deprecated names, and when ``[cpucompat]`` leaves the CPU unset, Nova's own
``[libvirt] cpu_mode / cpu_models / cpu_model_extra_flags`` are read, so an
operator with an existing nova.conf changes nothing.

``oslo-config-generator --namespace cpucompat`` writes the sample.
"""
from __future__ import annotations

from dataclasses import dataclass

from oslo_config import cfg, types

from .cpumap import CpuMap, load_cpu_map
from .errors import CpuCompatError, InvalidConfig

GROUP = cfg.OptGroup("cpucompat", title="cpucompat CPU compatibility",
                     help="Guest CPU model and the CPU compatibility the cpucompat scheduler filter enforces.")

MODES = ("custom", "host-model", "host-passthrough", "maximum", "none")

OPTS = [
    cfg.StrOpt("cpu_mode", choices=[
        ("custom", "A named model from libvirt's cpu_map (cpu_models) plus cpu_model_extra_flags."),
        ("host-model", "The named model closest to the host plus the flags completing it; guests "
                       "move only to hosts offering a superset of their CPU."),
        ("host-passthrough", "The host CPU exactly; guests move only between identical CPUs "
                             "(see passthrough_match)."),
        ("maximum", "Like host-passthrough under KVM."),
        ("none", "No CPU model: the hypervisor's default CPU.")],
        deprecated_opts=[cfg.DeprecatedOpt("libvirt_cpu_mode", group="DEFAULT")],
        mutable=True,
        help="Guest CPU mode. Unset: read [libvirt] cpu_mode, as Nova does (default host-model)."),
    cfg.ListOpt("cpu_models", default=[],
                deprecated_opts=[cfg.DeprecatedOpt("libvirt_cpu_model", group="DEFAULT"),
                                 cfg.DeprecatedOpt("cpu_model", group="cpucompat")],
                mutable=True,
                help="Ordered list of libvirt CPU model names for cpu_mode=custom, most common "
                     "and least advanced first. The first one the host can run (and that has the "
                     "flavor's required CPU traits) is used."),
    cfg.ListOpt("cpu_model_extra_flags", item_type=types.String(ignore_case=True), default=[],
                mutable=True,
                help="Extra CPU flags: '+flag' or 'flag' to require, '-flag' to disable."),
    cfg.StrOpt("cpu_map", mutable=True,
               help="libvirt cpu_map directory, index.xml or legacy cpu_map.xml (default: the "
                    "libvirt 9.0.0 map embedded in cpucompat). /usr/share/libvirt/cpu_map matches "
                    "the installed libvirt."),
    cfg.StrOpt("passthrough_match", default="exact", choices=[
        ("exact", "host-passthrough guests go only to hosts with an identical CPU."),
        ("superset", "... or to hosts whose CPU offers a superset of its features.")],
        mutable=True, help="How host-passthrough guests are matched to destination hosts."),
    cfg.BoolOpt("strict_host_model", default=True, mutable=True,
                help="Host-model guests being moved only go to hosts whose CPU is a superset of "
                     "the guest's CPU (its source host's host-model CPU)."),
    cfg.IntOpt("cache_size", default=4096, min=16,
               help="How many distinct cpu_info texts and decisions the filter keeps."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """For oslo-config-generator (entry point oslo.config.opts: cpucompat)."""
    return [(GROUP, OPTS)]


@dataclass(frozen=True, slots=True)
class CpuPolicy:
    """The validated CPU configuration the filter enforces."""

    mode: str
    models: tuple[str, ...]
    flags: tuple[tuple[str, str], ...]  # (feature, policy)
    cpumap: CpuMap
    passthrough_match: str
    strict_host_model: bool


def parse_flags(flags, cpumap: CpuMap) -> tuple[tuple[str, str], ...]:
    """'+pcid', 'pcid', '-mpx' → (('pcid', 'require'), ('mpx', 'disable'))."""
    out: dict[str, str] = {}
    x86 = cpumap.x86
    for raw in flags:
        flag = str(raw).strip().lower()
        if not flag:
            continue
        policy = "disable" if flag.startswith("-") else "require"
        name = flag.lstrip("+-")
        out[x86.feature(name, source="cpu_model_extra_flags").name] = policy
    return tuple(out.items())


def _nova_libvirt(conf: cfg.ConfigOpts, name: str):
    try:
        return getattr(conf.libvirt, name)
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError):
        return None


def load_policy(conf: cfg.ConfigOpts) -> CpuPolicy:
    """Validate the options as Nova does (_check_cpu_compatibility), with
    clear messages; raise InvalidConfig at start-up, never at a request."""
    group = conf.cpucompat
    mode = group.cpu_mode
    models = list(group.cpu_models)
    flags = list(group.cpu_model_extra_flags)
    if mode is None:  # the operator's nova.conf already says it
        mode = _nova_libvirt(conf, "cpu_mode")
        if not models:
            models = list(_nova_libvirt(conf, "cpu_models") or [])
        if not flags:
            flags = list(_nova_libvirt(conf, "cpu_model_extra_flags") or [])
    mode = mode or "host-model"
    if mode not in MODES:
        raise InvalidConfig(f"cpu_mode {mode!r} is not one of {', '.join(MODES)}", source="[cpucompat] cpu_mode")
    try:
        cpumap = load_cpu_map(group.cpu_map)
    except CpuCompatError as exc:
        raise InvalidConfig(f"cannot load cpu_map: {exc}", source="[cpucompat] cpu_map") from None
    if mode != "custom" and models:
        raise InvalidConfig(f"a CPU model ({', '.join(models)}) should not be set when cpu_mode={mode}; "
                            "cpu_models is only for cpu_mode=custom", source="[cpucompat] cpu_models")
    if mode == "custom" and not models:
        raise InvalidConfig("cpu_mode=custom needs a model name in cpu_models", source="[cpucompat] cpu_models")
    try:
        canonical = tuple(cpumap.x86.model(m, source="[cpucompat] cpu_models").name for m in models)
        parsed_flags = parse_flags(flags, cpumap)
    except CpuCompatError as exc:
        raise InvalidConfig(str(exc)) from None
    return CpuPolicy(mode, canonical, parsed_flags, cpumap, group.passthrough_match, group.strict_host_model)
