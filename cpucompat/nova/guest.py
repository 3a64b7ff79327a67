"""The ``<cpu>`` element a guest gets, for every mode, as Nova's libvirt
driver builds it — and the model choice the scheduler filter predicts.

Backward compatibility from the original blueprint: libvirt older than
0.9.10 has no ``mode`` attribute (nor ``<model fallback>``), so host-model is
emulated by copying the host's model, vendor and features into a ``custom``
CPU with ``match='exact'``; so is host-model with extra flags before 1.1.1,
which ignores ``<feature>`` there.  host-passthrough needs 0.9.10, maximum
7.1.0.  libvirt 0.9.7 is the oldest supported.
"""
from __future__ import annotations

from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

from ..engine.compare import features_of
from ..engine.cpu import Cpu
from ..engine.cpumap import CpuMap, embedded_cpu_map
from ..errors import InvalidConfig, NoSuitableModel

__all__ = ["MODE_SINCE", "HOST_MODEL_FEATURES_SINCE", "MAXIMUM_SINCE", "OLDEST_LIBVIRT", "choose_model",
           "guest_cpu", "guest_cpu_xml"]

MODE_SINCE = (0, 9, 10)  # <cpu mode=...>, host-model, host-passthrough, <model fallback=...>
HOST_MODEL_FEATURES_SINCE = (1, 1, 1)  # <feature> elements inside a host-model CPU
MAXIMUM_SINCE = (7, 1, 0)
OLDEST_LIBVIRT = (0, 9, 7)


def choose_model(models: Sequence[str], flags: Sequence[tuple[str, str]], cpumap: CpuMap | None = None,
                 required: Sequence[str] = ()) -> str:
    """The CPU model Nova's libvirt driver gives a custom-mode guest: the
    first of `models` (cpu_models order) whose features, with the extra
    `flags`, include every `required` feature (from the flavor's required
    CPU traits; Nova's _match_cpu_model_by_flags).  Like Nova, it does not
    look at the host: a model the host cannot run is still chosen, and the
    guest fails to start there.  The scheduler filter and the guest XML both
    use this one choice."""
    cpumap = cpumap if cpumap is not None else embedded_cpu_map()
    x86 = cpumap.x86
    need = x86.bits(required)
    reasons = []
    for name in models:
        lacking = need & ~features_of(Cpu(model=name, features=tuple(flags)), cpumap)
        if not lacking:
            return name
        reasons.append(f"{name} lacks {', '.join(x86.names(lacking))}")
    raise NoSuitableModel("no CPU model of cpu_models has the required features: "
                          + "; ".join(reasons or ["cpu_models is empty"]))


def guest_cpu(mode: str, models: Sequence[str] = (), flags: Sequence[tuple[str, str]] = (),
              host: Cpu | None = None, cpumap: CpuMap | None = None, *,
              required: Sequence[str] = (), libvirt_version: tuple[int, int, int] = (9, 0, 0)) -> Cpu | None:
    """The guest CPU for a mode; None for ``none`` (hypervisor default)."""
    if libvirt_version < OLDEST_LIBVIRT:
        raise InvalidConfig(f"libvirt {_dotted(libvirt_version)} is older than the oldest "
                            f"supported, {_dotted(OLDEST_LIBVIRT)}")
    if mode == "none":
        return None
    if mode in ("host-passthrough", "maximum"):
        since = MAXIMUM_SINCE if mode == "maximum" else MODE_SINCE
        if libvirt_version < since:
            raise InvalidConfig(f"cpu_mode={mode} needs libvirt {_dotted(since)} or newer, "
                                f"not {_dotted(libvirt_version)}")
        return Cpu(mode=mode, match=None, features=tuple(flags))
    if mode == "host-model":
        if libvirt_version >= HOST_MODEL_FEATURES_SINCE or (libvirt_version >= MODE_SINCE and not flags):
            return Cpu(mode="host-model", match=None, features=tuple(flags))
        if host is None:
            raise InvalidConfig(f"host-model{' with extra flags' if flags else ''} on libvirt "
                                f"{_dotted(libvirt_version)} is emulated by a custom CPU copied from the host: "
                                "it needs the host CPU")
        # copy the host CPU into a custom one, then apply the extra flags
        copied = Cpu(model=host.model, vendor=host.vendor, match="exact", features=host.features)
        return copied.with_features(flags)
    if mode == "custom":
        model = choose_model(models, flags, cpumap, required)
        return Cpu(model=model, match="exact", features=tuple(flags))
    raise InvalidConfig(f"unknown cpu_mode {mode!r}")


def guest_cpu_xml(cpu: Cpu | None, *, libvirt_version: tuple[int, int, int] = (9, 0, 0)) -> str:
    """The ``<cpu>`` element libvirt receives ('' for mode none); before
    0.9.10, without the mode and fallback attributes it did not know."""
    if cpu is None:
        return ""
    modern = libvirt_version >= MODE_SINCE
    if not modern and cpu.mode != "custom":
        raise InvalidConfig(f"libvirt {_dotted(libvirt_version)} has no CPU mode {cpu.mode} "
                            f"(since {_dotted(MODE_SINCE)})")
    attrs = f" mode={quoteattr(cpu.mode)}" if modern else ""
    if cpu.mode == "custom" and cpu.match:
        attrs += f" match={quoteattr(cpu.match)}"
    if cpu.migratable is not None:
        attrs += f" migratable={quoteattr('on' if cpu.migratable else 'off')}"
    lines = [f"<cpu{attrs}>"]
    if cpu.model:
        fallback = f" fallback={quoteattr(cpu.fallback)}" if modern else ""
        lines.append(f"  <model{fallback}>{escape(cpu.model)}</model>")
    if cpu.vendor and cpu.model:
        lines.append(f"  <vendor>{escape(cpu.vendor)}</vendor>")
    for name, policy in cpu.features:
        lines.append(f"  <feature policy={quoteattr(policy)} name={quoteattr(name)}/>")
    lines.append("</cpu>")
    return "\n".join(lines) + "\n"


def _dotted(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))
