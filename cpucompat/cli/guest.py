"""``cpucompat guest-xml``: the ``<cpu>`` element Nova's libvirt driver writes
for a guest on a host, given the compute's configuration.

The configuration is validated as Nova validates it at start-up
(`nova.config.make_policy`), the custom model chosen as Nova's driver
chooses it (`nova.guest.choose_model`: the first of ``--models`` with the
flavor's required traits, whatever the host), and the element built by
`nova.guest` for the libvirt version given (host-model emulated by a copy of
the host CPU before 0.9.10).  For host-model it also says the CPU libvirt's
QEMU driver will run (`nova.hostmodel`).  Exit status 1 when the host cannot
run the custom model Nova would give it.
"""
from __future__ import annotations

import argparse
import re

from ..display import shown
from ..engine.compare import compare
from ..errors import CpuCompatError
from ..inputs.parse import read_cpus
from ..nova.config import MODES, make_policy
from ..nova.guest import guest_cpu, guest_cpu_xml
from ..nova.hostmodel import guest_host_model
from ..nova.traits import trait_requirements
from .common import EXIT_INCOMPATIBLE, EXIT_OK, emit, one_line, path_argument

__all__ = ["add_command"]


def libvirt_version(text: str) -> tuple[int, int, int]:
    """An argparse type: 'X.Y.Z' (or 'X.Y') → (X, Y, Z)."""
    if not re.fullmatch(r"\d{1,4}\.\d{1,4}(\.\d{1,4})?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a libvirt version like 9.0.0")
    parts = [int(n) for n in text.split(".")] + [0]
    return parts[0], parts[1], parts[2]


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_guest_xml(args: argparse.Namespace) -> int:
    policy = make_policy(args.mode, _names(args.models), _names(args.extra_flags), args.cpu_map,
                         sources=("--mode", "--models", "--extra-flags", "--cpu-map"))
    cpumap = policy.cpumap
    host = read_cpus(args.host, cpumap)[0]
    traits = trait_requirements({f"trait:{t}": "required" for t in args.trait})
    if traits.unknown_required:
        raise CpuCompatError(f"unknown trait {traits.unknown_required[0]}", source="--trait")
    cpu = guest_cpu(policy.mode, policy.models, policy.flags, host, cpumap, required=traits.required,
                    libvirt_version=args.libvirt_version)
    xml = guest_cpu_xml(cpu, libvirt_version=args.libvirt_version)
    value: dict = {"mode": policy.mode, "xml": xml, "model": cpu.model if cpu else None,
                   "features": [[name, policy_] for name, policy_ in cpu.features] if cpu else [],
                   "runs": True, "reason": None, "host_model": None}
    lines = [xml.rstrip("\n") if xml else f"<!-- cpu_mode={policy.mode}: no <cpu> element, the hypervisor's "
                                           "default CPU -->"]
    if cpu is not None and cpu.mode == "custom":
        verdict = compare(cpu, host, cpumap)
        value["runs"], value["reason"] = verdict.compatible, None if verdict.compatible else verdict.reason
        if not verdict.compatible:
            lines.append(f"<!-- this host cannot run it: {one_line(verdict.reason)} -->")
    elif cpu is not None and cpu.mode == "host-model":
        runs = guest_host_model(host, cpumap)
        value["host_model"] = {"model": runs.model, "vendor": runs.vendor, "features": list(runs.features),
                               "disabled": list(runs.disabled)}
        text = shown(runs.model) + "".join(f" +{shown(n)}" for n in runs.features) + "".join(
            f" -{shown(n)}" for n in runs.disabled)
        lines.append(f"<!-- libvirt's QEMU driver runs it as {text} -->")
    emit(args, value, "\n".join(lines))
    return EXIT_OK if value["runs"] else EXIT_INCOMPATIBLE


def add_command(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("guest-xml", parents=[common],
                       help="the <cpu> element Nova gives a guest on a host, for a compute's configuration")
    p.add_argument("--mode", choices=MODES, default="host-model",
                   help="[libvirt] cpu_mode of the compute (default: host-model, Nova's default)")
    p.add_argument("--models", default="", metavar="M1,M2", help="[libvirt] cpu_models, in order (custom)")
    p.add_argument("--extra-flags", default="", metavar="+F1,-F2",
                   help="[libvirt] cpu_model_extra_flags (write --extra-flags=-F1 when the first disables)")
    p.add_argument("--libvirt-version", type=libvirt_version, default=(9, 0, 0), metavar="X.Y.Z",
                   help="libvirt of the compute (default 9.0.0; before 0.9.10 host-model is emulated)")
    p.add_argument("--trait", action="append", default=[], metavar="HW_CPU_X86_...",
                   help="a required CPU trait of the flavor (repeatable): chooses among --models")
    p.add_argument("host", metavar="HOSTFILE", type=path_argument, help="the host CPU (any format cpucompat reads)")
    p.set_defaults(func=cmd_guest_xml)
