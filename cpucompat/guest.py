"""The ``<cpu>`` element a guest gets, for every mode, as Nova's libvirt
driver builds it — and the model choice the scheduler filter predicts.

Backward compatibility from the original blueprint: libvirt older than
0.9.10 has no host-model, so it is emulated by copying the host's model,
vendor and features into a ``custom`` CPU with ``match='exact'``.  libvirt
0.9.7 is the oldest supported.
"""
from __future__ import annotations

from typing import Sequence
from xml.sax.saxutils import quoteattr

from .compat import compare, features_of
from .cpu import Cpu
from .cpumap import CpuMap, embedded_cpu_map
from .errors import InvalidConfig, NoSuitableModel

HOST_MODEL_SINCE = (0, 9, 10)
OLDEST_LIBVIRT = (0, 9, 7)


def choose_model(models: Sequence[str], flags: Sequence[tuple[str, str]], host: Cpu | None,
                 cpumap: CpuMap | None = None, required: Sequence[str] = ()) -> str:
    """The first of `models` (Nova's cpu_models order) whose features include
    every `required` feature (from the flavor's required CPU traits) and, if
    `host` is given, that runs on it with the extra flags."""
    cpumap = cpumap if cpumap is not None else embedded_cpu_map()
    x86 = cpumap.x86
    need = x86.bits(required)
    reasons = []
    for name in models:
        guest = Cpu(model=name, features=tuple(flags))
        lacking = need & ~features_of(guest, cpumap)
        if lacking:
            reasons.append(f"{name} lacks {', '.join(x86.names(lacking))}")
            continue
        if host is not None:
            verdict = compare(guest, host, cpumap)
            if not verdict.compatible:
                reasons.append(f"{name}: {verdict.reason}")
                continue
        return name
    raise NoSuitableModel("no CPU model of cpu_models fits: " + "; ".join(reasons or ["cpu_models is empty"]))


def guest_cpu(mode: str, models: Sequence[str] = (), flags: Sequence[tuple[str, str]] = (),
              host: Cpu | None = None, cpumap: CpuMap | None = None, *,
              required: Sequence[str] = (), libvirt_version: tuple[int, int, int] = (9, 0, 0)) -> Cpu | None:
    """The guest CPU for a mode; None for ``none`` (hypervisor default)."""
    if libvirt_version < OLDEST_LIBVIRT:
        raise InvalidConfig(f"libvirt {'.'.join(map(str, libvirt_version))} is older than the oldest "
                            f"supported, {'.'.join(map(str, OLDEST_LIBVIRT))}")
    if mode == "none":
        return None
    if mode in ("host-passthrough", "maximum"):
        return Cpu(mode=mode, match=None, features=tuple(flags))
    if mode == "host-model":
        if libvirt_version >= HOST_MODEL_SINCE:
            return Cpu(mode="host-model", match=None, features=tuple(flags))
        if host is None:
            raise InvalidConfig("emulating host-model on libvirt < 0.9.10 needs the host CPU")
        # copy the host CPU into a custom one, then apply the extra flags
        copied = Cpu(model=host.model, vendor=host.vendor, match="exact", features=host.features)
        return copied.with_features(flags)
    if mode == "custom":
        model = choose_model(models, flags, host, cpumap, required)
        return Cpu(model=model, match="exact", features=tuple(flags))
    raise InvalidConfig(f"unknown cpu_mode {mode!r}")


def guest_cpu_xml(cpu: Cpu | None) -> str:
    """The ``<cpu>`` element libvirt receives ('' for mode none)."""
    if cpu is None:
        return ""
    attrs = f" mode={quoteattr(cpu.mode)}"
    if cpu.mode == "custom" and cpu.match:
        attrs += f" match={quoteattr(cpu.match)}"
    if cpu.migratable is not None:
        attrs += f" migratable={quoteattr('on' if cpu.migratable else 'off')}"
    lines = [f"<cpu{attrs}>"]
    if cpu.model:
        lines.append(f"  <model fallback={quoteattr(cpu.fallback)}>{cpu.model}</model>")
    if cpu.vendor and cpu.model:
        lines.append(f"  <vendor>{cpu.vendor}</vendor>")
    for name, policy in cpu.features:
        lines.append(f"  <feature policy={quoteattr(policy)} name={quoteattr(name)}/>")
    lines.append("</cpu>")
    return "\n".join(lines) + "\n"
