"""cpucompat's oslo.config options, declared once.

They live in their own group ``[cpucompat]``: re-registering Nova's
``[libvirt]`` options would raise DuplicateOptError.  The seed's names
(``[DEFAULT] libvirt_cpu_mode`` / ``libvirt_cpu_model``) keep working as
deprecated names, and each of ``cpu_mode``, ``cpu_models`` and
``cpu_model_extra_flags`` that ``[cpucompat]`` leaves unset is read from
Nova's own ``[libvirt]`` option of that name, so an operator with an
existing nova.conf changes nothing.  One exception: ``[libvirt]
cpu_models`` belong to ``[libvirt]``'s custom mode, so they are not read
when ``[cpucompat] cpu_mode`` names another mode.

``oslo-config-generator --namespace cpucompat`` writes the sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from oslo_config import cfg, types

from ..engine import rules
from ..engine.cpumap import CpuMap
from ..engine.maps import resolve_map_spec
from ..errors import CpuCompatError, InvalidConfig

__all__ = ["GROUP", "MODES", "OPTS", "register_opts", "list_opts", "CpuPolicy", "parse_flags", "load_policy",
           "make_policy"]

GROUP = cfg.OptGroup("cpucompat", title="cpucompat CPU compatibility",
                     help="Guest CPU model and the CPU compatibility the cpucompat scheduler filter enforces.")

MODES = (*rules.MODES, "none")  # Nova's none: no <cpu> element, the hypervisor's default CPU

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
        help="Guest CPU mode. Unset: [libvirt] cpu_mode; unset there too: host-model, as Nova does "
             "for KVM/QEMU on x86 (none when [libvirt] virt_type is another hypervisor). Set it for "
             "AArch64 computes, where Nova's default is host-passthrough."),
    cfg.ListOpt("cpu_models", default=[],
                deprecated_opts=[cfg.DeprecatedOpt("libvirt_cpu_model", group="DEFAULT"),
                                 cfg.DeprecatedOpt("cpu_model", group="cpucompat")],
                mutable=True,
                help="Ordered list of libvirt CPU model names for cpu_mode=custom, most common "
                     "and least advanced first. The first one the host can run (and that has the "
                     "flavor's required CPU traits) is used. Unset: [libvirt] cpu_models, unless "
                     "cpu_mode here names another mode."),
    cfg.ListOpt("cpu_model_extra_flags", item_type=types.String(ignore_case=True), default=[],
                mutable=True,
                help="Extra CPU flags: '+flag' or 'flag' to require, '-flag' to disable. Unset: "
                     "[libvirt] cpu_model_extra_flags."),
    cfg.StrOpt("cpu_map", mutable=True,
               help="The libvirt version of a map embedded in cpucompat (9.0.0, 11.3.0, 12.8.0; "
                    "`cpucompat maps` lists them), or a libvirt cpu_map directory, index.xml or legacy "
                    "cpu_map.xml (default: the newest embedded map). Use the computes' libvirt's map, "
                    "e.g. /usr/share/libvirt/cpu_map from that libvirt, or the embedded one of its "
                    "version: the map's version also selects that libvirt's rules."),
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


def parse_flags(flags: Iterable[str], cpumap: CpuMap, *,
                source: str = "cpu_model_extra_flags") -> tuple[tuple[str, str], ...]:
    """'+pcid', 'pcid', '-mpx' → (('pcid', 'require'), ('mpx', 'disable'))."""
    out: dict[str, str] = {}
    x86 = cpumap.x86
    for raw in flags:
        flag = str(raw).strip().lower()
        if not flag:
            continue
        policy = "disable" if flag.startswith("-") else "require"
        name = flag.lstrip("+-")
        out[x86.feature(name, source=source).name] = policy
    return tuple(out.items())


def _nova_libvirt(conf: cfg.ConfigOpts, name: str) -> Any:
    try:
        return getattr(conf.libvirt, name)
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError):
        return None


def _setting(conf: cfg.ConfigOpts, name: str, *, fallback: bool = True) -> tuple[Any, str]:
    """(value, where it came from) of an option: [cpucompat] when set there,
    else Nova's [libvirt] option of the same name."""
    value = getattr(conf.cpucompat, name)
    if value or not fallback:
        return value, f"[cpucompat] {name}"
    return _nova_libvirt(conf, name), f"[libvirt] {name}"


def load_policy(conf: cfg.ConfigOpts) -> CpuPolicy:
    """Validate the options as Nova does (_check_cpu_compatibility), with
    clear messages naming the section each value came from; raise
    InvalidConfig at start-up, never at a request."""
    group = conf.cpucompat
    mode, mode_source = _setting(conf, "cpu_mode")
    if mode is None:  # Nova's default: host-model under KVM/QEMU, no CPU model otherwise
        mode = "host-model" if _nova_libvirt(conf, "virt_type") in (None, "kvm", "qemu") else "none"
        mode_source = "cpu_mode unset: Nova's default"
    # [libvirt] cpu_models belong to [libvirt]'s custom mode, which a [cpucompat] mode overrides
    models, models_source = _setting(conf, "cpu_models", fallback=group.cpu_mode in (None, "custom"))
    flags, flags_source = _setting(conf, "cpu_model_extra_flags")
    return make_policy(mode, models, flags, group.cpu_map, passthrough_match=group.passthrough_match,
                       strict_host_model=group.strict_host_model,
                       sources=(mode_source, models_source, flags_source, "[cpucompat] cpu_map"))


def make_policy(mode: str, models: Iterable[str] | None, flags: Iterable[str] | None, cpu_map: str | None = None, *,
                passthrough_match: str = "exact",
                strict_host_model: bool = True,
                sources: tuple[str, str, str, str] = ("cpu_mode", "cpu_models", "cpu_model_extra_flags",
                                                      "cpu_map")) -> CpuPolicy:
    """A compute's CPU configuration validated as Nova validates it
    (_check_cpu_compatibility); `sources` name where the mode, models,
    flags and map came from, for the messages.  Raises InvalidConfig."""
    mode_source, models_source, flags_source, map_source = sources
    models, flags = list(models or []), list(flags or [])
    if mode not in MODES:
        raise InvalidConfig(f"cpu_mode {mode!r} is not one of {', '.join(MODES)}", source=mode_source)
    try:
        cpumap = resolve_map_spec(cpu_map)
    except CpuCompatError as exc:
        raise InvalidConfig(f"cannot load cpu_map: {exc}", source=map_source) from None
    if mode != "custom" and models:
        raise InvalidConfig(f"a CPU model ({', '.join(models)}) should not be set when cpu_mode={mode} "
                            f"({mode_source}); cpu_models is only for cpu_mode=custom", source=models_source)
    if mode == "custom" and not models:
        raise InvalidConfig(f"cpu_mode=custom ({mode_source}) needs a model name in cpu_models",
                            source=models_source)
    try:
        canonical = tuple(cpumap.x86.model(m, source=models_source).name for m in models)
        parsed_flags = parse_flags(flags, cpumap, source=flags_source)
    except CpuCompatError as exc:
        raise InvalidConfig(str(exc)) from None
    return CpuPolicy(mode, canonical, parsed_flags, cpumap, passthrough_match, strict_host_model)
