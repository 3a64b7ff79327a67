"""Scheduling decisions: can a request's guest CPU run on (or move to) a host?

All of the Nova filter's logic lives here, on plain values, so it is
testable without Nova and fast enough for every host of every request: a
host's ``cpu_info`` (JSON text, dict, '' or None) is read once per distinct
text into a `hostcpu.HostCpu`, a decision computed once per distinct
(request, host CPU) pair, both kept in caches (`cache.Lru`) bounded in the
characters of cpu_info they keep, not only in entries.  Nothing raises: a
malformed input is a failing decision with a reason, an internal error one
flagged as an error.  Untrusted sizes are bounded: a ``cpucompat:*`` value
or aggregate model longer than Nova stores (255 characters) is refused
before it is looked up, a cpu_info over MAX_CPU_INFO characters before it
is parsed, and reasons are cut to MAX_REASON characters.

Which rule applies depends on the kind of request (`moves.MoveKind`): the
live-migration rule for a live migration (or a move of unknown kind whose
source is known), the boot rule for every other move; a rebuild on its own
host passes.

The boot rule, per guest CPU mode (the computes' mode: Nova has no
per-flavor CPU mode):

* custom: the guest gets the first of cpu_models (or of an aggregate's
  model) with the flavor's required traits, as Nova's driver picks it
  (`guest.choose_model`, which does not look at the host); the host must
  run that model with the extra flags;
* host-model, host-passthrough, maximum: the extra flags and the required
  traits are met;
* none: QEMU's default CPU, no constraint but the required traits.

The live-migration rule, per mode:

* custom, none: the boot rule (the guest's CPU is the same everywhere);
* host-model: the destination runs the guest's CPU, the host-model CPU
  libvirt's QEMU driver built on the source (`hostmodel.guest_host_model`),
  and lists the source's features unknown to the map
  (``strict_host_model``);
* host-passthrough / maximum: an identical host CPU, unknown feature names
  included (``passthrough_match=exact``), or a superset (``superset``).

A flavor may add requirements, never change the predicted guest CPU:
``cpucompat:cpu_model`` (a model, or several separated by commas: any of
them) with ``cpucompat:cpu_flags`` means the host must be able to run that
model with those flags; ``cpucompat:cpu_flags`` alone, that the host has
the required flags.  They count on boots and every move.
``cpucompat:cpu_mode`` is refused (every host fails): nova-compute applies
its own ``[libvirt] cpu_mode``.  Forbidden traits exclude hosts offering
the feature, in every mode.  A required ``HW_CPU_X86_*`` trait neither
os-traits nor cpucompat knows fails every host (no host reports it); a
forbidden one excludes none.
cpucompat's model traits count in every mode (customtraits.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..display import clip
from ..engine.compare import compare, features_of
from ..engine.cpu import Cpu
from ..engine.drivers import is_x86
from ..engine.cpumap import CpuMap
from ..errors import CpuCompatError, NoSuitableModel
from .cache import Lru
from .config import MODES, CpuPolicy, parse_flags
from .customtraits import model_trait_problem, resolve_model_traits
from .guest import choose_model
from .hostcpu import MAX_CPU_INFO, HostCpu, _host_cpu, dict_key, keepable
from .hostmodel import guest_host_model
from .moves import MoveKind
from .specs import AGGREGATE_MODEL, SPEC_FLAGS, SPEC_MODE, SPEC_MODEL, bounded_specs
from .traits import trait_requirements

__all__ = ["SOURCE_MODES", "MAX_REASON", "Request", "Decision", "NO_CPU_INFO", "CpuPlacement", "RequestDecisions"]

SOURCE_MODES = ("host-model", "host-passthrough", "maximum")  # modes whose live migrations depend on the source
MAX_REASON = 500  # characters of a decision's reason
CACHE_CHARS = 16 * 1024 * 1024  # characters of cpu_info the hosts cache keeps (decisions: 4 times as many)


@dataclass(frozen=True, slots=True)
class Request:
    """What one scheduling request needs from a host's CPU."""

    mode: str
    models: tuple[str, ...] = ()  # custom: the one model Nova's driver gives the guest
    flags: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()  # features from required traits
    forbidden: tuple[str, ...] = ()
    source_host: str | None = None  # set when the live-migration rule applies
    source_cpu: HostCpu | None = None  # the source host's CPU, when known
    passthrough_match: str = "exact"
    strict_host_model: bool = True
    unknown_required: tuple[str, ...] = ()  # required traits nobody knows: every host fails
    unknown_forbidden: tuple[str, ...] = ()  # forbidden traits nobody knows: no host is excluded
    move: MoveKind = MoveKind.BOOT
    needs_models: tuple[str, ...] = ()  # flavor cpucompat:cpu_model: the host runs one of them
    needs_flags: tuple[tuple[str, str], ...] = ()  # flavor cpucompat:cpu_flags
    refused: str | None = None  # why every host fails (a flavor's cpucompat:cpu_mode, no model fits)
    runs_models: tuple[str, ...] = ()  # required CUSTOM_CPUCOMPAT_MODEL_* traits: the host runs each
    not_models: tuple[str, ...] = ()  # forbidden ones: the host runs none

    @property
    def is_live(self) -> bool:
        """Judged by the live-migration rule."""
        return self.source_host is not None

    @property
    def size(self) -> int:
        """Characters of untrusted names it holds (a source host, traits nobody knows)."""
        return (len(self.source_host or "") + sum(map(len, self.unknown_required + self.unknown_forbidden))
                + len(self.refused or ""))

    @property
    def source_unknown(self) -> bool:
        """A live migration whose rule needs the source CPU, which is not
        known: the boot rule applies."""
        return self.is_live and self.mode in SOURCE_MODES and self.source_cpu is None


@dataclass(frozen=True, slots=True)
class Decision:
    passes: bool
    reason: str
    model: str | None = None  # the custom model the guest will get
    error: bool = False  # the reason is a fault to report (bad input, internal error), not the host's CPU
    misconfigured: bool = False  # Nova gives guests here a custom model this host cannot run


NO_CPU_INFO = Decision(False, "host reports no CPU information (cpu_info is empty)")


class CpuPlacement:
    """Decisions for one validated CpuPolicy, with bounded caches."""

    def __init__(self, policy: CpuPolicy, cache_size: int = 4096, cache_chars: int = CACHE_CHARS) -> None:
        self.policy = policy
        self.cpumap: CpuMap = policy.cpumap
        self._hosts = Lru(cache_size, cache_chars)  # cpu_info text → HostCpu or Decision
        self._decisions = Lru(cache_size * 4, cache_chars * 4)  # (Request, cpu_info text) → Decision
        self._known_hosts: dict[str, Any] = {}  # host name → last cpu_info seen (for live migrations)

    # -- hosts ---------------------------------------------------------------
    def host_cpu(self, cpu_info: Any) -> HostCpu | Decision:
        """The host CPU of a cpu_info value, or the failing decision saying
        why there is none (an error when cpucompat itself failed)."""
        found, _ = self._host_cpu(cpu_info)
        return found

    def _host_cpu(self, cpu_info: Any) -> tuple[HostCpu | Decision, str | None]:
        """host_cpu() and the text it is cached under (None: not cached)."""
        if cpu_info is None or cpu_info == "" or cpu_info == {}:
            return NO_CPU_INFO, None
        key = cpu_info if isinstance(cpu_info, str) else dict_key(cpu_info)
        if len(key) > MAX_CPU_INFO:  # refused before it is parsed or kept
            return Decision(False, f"cpu_info of {len(key)} characters, more than the {MAX_CPU_INFO} "
                                   "allowed"), None
        found = self._hosts.get(key)
        if found is None:
            try:
                found = _host_cpu(cpu_info, self.cpumap)
                found = replace(found, size=len(key))
            except CpuCompatError as exc:  # a message with a source already starts "cpu_info: "
                found = _clipped(Decision(False, f"unusable {exc}" if exc.source else f"unusable cpu_info: {exc}"))
            except Exception as exc:  # never raise into the scheduler
                found = _clipped(Decision(False, f"internal error reading cpu_info, host refused: "
                                                 f"{type(exc).__name__}: {exc}", error=True))
            self._hosts.put(key, found, len(key))
        return found, key

    def remember(self, hosts: Iterable[Any]) -> None:
        """Note each host's cpu_info (objects with .host and .cpu_info), so a
        later live migration away from a host knows its CPU: Nova strips the
        source from the hosts a move request is filtered over."""
        known = self._known_hosts
        for host in hosts:
            cpu_info = getattr(host, "cpu_info", None)
            if cpu_info and known.get(host.host) is not cpu_info and keepable(cpu_info):
                known[host.host] = cpu_info  # one dict store: atomic under the GIL

    def source_cpu(self, host: str, lookup: Callable[[str], Any] | None = None) -> HostCpu | None:
        """The CPU of a live migration's source host: its cpu_info as
        remember() last saw it, else as `lookup(host)` gives it (Nova's
        database), then remembered; None when neither knows it."""
        cpu_info = self._known_hosts.get(host)
        if cpu_info is None and lookup is not None:
            cpu_info = lookup(host)
            if cpu_info and keepable(cpu_info):
                self._known_hosts[host] = cpu_info
        found = self.host_cpu(cpu_info)
        return found if isinstance(found, HostCpu) else None

    # -- requests --------------------------------------------------------------
    def request(self, extra_specs: Mapping[str, Any] | None = None, *, image_traits: Sequence[str] = (),
                move: MoveKind = MoveKind.BOOT, source_host: str | None = None,
                aggregate_model: str | None = None,
                lookup_source: Callable[[str], Any] | None = None) -> Request:
        """Build the Request of a scheduling request from plain values.

        `source_host` is the host the guest leaves; it counts only for a
        move judged by the live-migration rule (`MoveKind.keeps_cpu`).
        `lookup_source(host)` gives its cpu_info when this process has not
        seen the host, and is called only when the mode needs it.

        Raises CpuCompatError for unusable extra specs or aggregate metadata
        (the filter turns that into rejecting every host with the reason)."""
        specs = bounded_specs(extra_specs, aggregate_model)
        policy, x86 = self.policy, self.cpumap.x86
        mode, models, flags = policy.mode, policy.models, policy.flags
        if aggregate_model:  # the aggregate's computes are configured with that custom model
            mode, models = "custom", (x86.model(aggregate_model, source=f"aggregate {AGGREGATE_MODEL}").name,)
        needs_models = tuple(x86.model(m.strip(), source=SPEC_MODEL).name
                             for m in specs.get(SPEC_MODEL, "").split(",") if m.strip())
        needs_flags = parse_flags(specs[SPEC_FLAGS].split(","), self.cpumap, source=SPEC_FLAGS) \
            if SPEC_FLAGS in specs else ()
        traits = trait_requirements(specs, [str(t) for t in image_traits])
        runs_models, not_models, unknown_required, unknown_forbidden = resolve_model_traits(traits, x86)
        refused = None
        if SPEC_MODE in specs:
            refused = (f"flavor extra spec {SPEC_MODE}={clip(specs[SPEC_MODE])} is not honoured: nova-compute "
                       "gives every guest its own [libvirt] cpu_mode")
        elif mode not in MODES:  # a policy built by hand, not by load_policy
            refused = f"unknown CPU mode {clip(mode)}"
        elif mode == "custom":
            try:  # Nova's driver: the first model with the required traits, whatever the host
                models = (choose_model(models, flags, self.cpumap, traits.required),)
            except NoSuitableModel as exc:
                refused = str(exc)
        if not move.keeps_cpu:
            source_host = None
        source_cpu = self.source_cpu(source_host, lookup_source) if source_host and mode in SOURCE_MODES else None
        return Request(mode, models if mode == "custom" else (), flags, traits.required, traits.forbidden,
                       source_host, source_cpu, policy.passthrough_match, policy.strict_host_model,
                       unknown_required, unknown_forbidden, move, needs_models, needs_flags, refused,
                       runs_models, not_models)

    # -- decisions ---------------------------------------------------------------
    def decide(self, request: Request, cpu_info: Any) -> Decision:
        """Can `request`'s guest run on the host described by `cpu_info`?"""
        if request.move is MoveKind.REBUILD:  # before the host's CPU is even read
            return Decision(True, "rebuild on its own host")
        host, text = self._host_cpu(cpu_info)
        if not isinstance(host, HostCpu):
            return host
        key = (request, text)  # the text, not the parsed host: an entry keeps no parsed CPU alive
        found: Decision | None = self._decisions.get(key)
        if found is None:
            try:
                found = self._decide(request, host)
            except CpuCompatError as exc:  # a name the map lacks: the request's fault, not the host's
                found = Decision(False, str(exc), error=True)
            except Exception as exc:  # a bug must not take the scheduler down
                found = Decision(False, f"internal error, host refused: {type(exc).__name__}: {exc}", error=True)
            found = _clipped(found)
            source = request.source_cpu
            self._decisions.put(key, found, host.size + (source.size if source else 0) + request.size)
        return found

    def _decide(self, request: Request, host: HostCpu) -> Decision:
        if request.refused:
            return Decision(False, request.refused)
        if request.unknown_required:
            names = ", ".join(clip(trait) for trait in request.unknown_required)
            return Decision(False, f"requires {names}, unknown to os-traits and cpucompat: no host has it")
        x86 = self.cpumap.x86
        host_bits = features_of(host.cpu, self.cpumap)
        forbidden = x86.bits(request.forbidden) & host_bits
        if forbidden:
            return Decision(False, f"host provides forbidden features {', '.join(x86.names(forbidden))}")
        trait_problem = model_trait_problem(request.runs_models, request.not_models, host.cpu, self.cpumap)
        if trait_problem:
            return Decision(False, trait_problem)
        needs = self._flavor_needs(request, host.cpu, host_bits)
        if needs is not None:
            return needs
        mode = request.mode
        if mode == "custom":
            return self._custom(request, host.cpu)
        missing = (x86.bits(request.required) | x86.bits(n for n, p in request.flags if p == "require")) & ~host_bits
        if missing:
            return Decision(False, f"host lacks required features {', '.join(x86.names(missing))}")
        if not request.is_live or mode == "none":
            return Decision(True, f"{mode} guest can boot here ({request.move})")
        source = request.source_cpu
        if source is None:
            return Decision(True, f"source host {request.source_host} CPU unknown: boot rule applied")
        # names the map cannot describe may be in the guest's CPU: the destination needs them too
        unknown_lacking = sorted(source.unknown - host.unknown)
        if mode == "host-model":
            if not request.strict_host_model:
                return Decision(True, "host-model live migration, strict_host_model off")
            if is_x86(source.cpu.arch):
                guest = guest_host_model(source.cpu, self.cpumap).as_cpu().with_features(request.flags)
            else:  # other maps describe models by name only: compare() matches the source's model
                guest = Cpu(model=source.cpu.model, arch=source.cpu.arch, match=None)
            # Nova asks the destination's virConnectCompareHypervisorCPU; cpu_info holds neither its
            # QEMU's models nor its host-model CPU, so only its comparison with the host CPU applies
            # (compare_hypervisor without models is this compare)
            verdict = compare(guest, host.cpu, self.cpumap)
            if not verdict.compatible:
                return Decision(False, f"host-model guest from {request.source_host} ({guest.model}) "
                                       f"cannot run here: {verdict.reason}")
            if unknown_lacking:
                return Decision(False, f"host-model guest from {request.source_host}: host lacks "
                                       f"{', '.join(unknown_lacking)} (unknown to cpu_map)")
            return Decision(True, f"host offers every feature of the guest's {guest.model} CPU")
        # host-passthrough / maximum
        source_bits = features_of(source.cpu, self.cpumap)
        if source.cpu.vendor != host.cpu.vendor:
            return Decision(False, f"host-passthrough guest: vendor {host.cpu.vendor} differs from source "
                                   f"{source.cpu.vendor}")
        lacking = x86.names(source_bits & ~host_bits) + unknown_lacking
        if request.passthrough_match == "exact":
            extra = x86.names(host_bits & ~source_bits) + sorted(host.unknown - source.unknown)
            if lacking or extra or source.reported_model != host.reported_model:
                return Decision(False, "host-passthrough guest needs an identical host CPU: "
                                       f"{host.reported_model} vs {source.reported_model}"
                                       + (f", missing {', '.join(lacking)}" if lacking else "")
                                       + (f", extra {', '.join(extra)}" if extra else ""))
            return Decision(True, "identical host CPU")
        if lacking:
            return Decision(False, f"host-passthrough guest: host lacks {', '.join(lacking)}")
        return Decision(True, "host CPU is a superset of the source's")

    def _flavor_needs(self, request: Request, host: Cpu, host_bits: int) -> Decision | None:
        """The failing decision when the host cannot meet the flavor's
        cpucompat:cpu_model / cpu_flags requirement; None when it can."""
        if request.needs_models:
            reasons = []
            for name in request.needs_models:
                verdict = compare(Cpu(model=name, features=request.needs_flags), host, self.cpumap)
                if verdict.compatible:
                    return None
                reasons.append(f"{name}: {verdict.reason}")
            return Decision(False, f"flavor requires a host able to run {' or '.join(request.needs_models)}: "
                                   + "; ".join(reasons))
        x86 = self.cpumap.x86
        missing = x86.bits(n for n, p in request.needs_flags if p == "require") & ~host_bits
        if missing:
            return Decision(False, f"flavor requires features the host lacks: {', '.join(x86.names(missing))}")
        return None

    def _custom(self, request: Request, host: Cpu) -> Decision:
        name = request.models[0]  # chosen as Nova's driver chooses it, in request()
        verdict = compare(Cpu(model=name, features=request.flags), host, self.cpumap)
        if verdict.compatible:
            return Decision(True, f"runs {name}", name)
        return Decision(False, f"cannot run {name}, the model Nova's driver gives guests here: {verdict.reason}",
                        name, misconfigured=True)


class RequestDecisions:
    """One scheduling request's decisions over a list of hosts.

    Worked out once per filter call and kept in its locals (one filter
    instance serves every nova-scheduler thread): each distinct (aggregate
    model, cpu_info) is decided once, so 10,000 hosts with 50 distinct
    CPUs cost 50 decisions and 10,000 dict lookups.  A request that cannot
    be built (bad extra specs) refuses every host with its reason.
    """

    def __init__(self, placement: CpuPlacement, extra_specs: Mapping[str, Any] | None,
                 image_traits: Sequence[str], request: Request | None, error: str | None = None) -> None:
        self.placement = placement
        self.extra_specs = extra_specs
        self.image_traits = image_traits
        self.request = request
        self.refused = Decision(False, clip(error or "", MAX_REASON), error=True)
        self._pinned: dict[str, Request | Decision] = {}  # aggregate model → its request, or why not
        self._decided: dict[tuple[str | None, str | None], Decision] = {}

    def decide(self, cpu_info: Any, aggregate_model: str | None = None) -> Decision:
        key = (aggregate_model, cpu_info if isinstance(cpu_info, str) or cpu_info is None else repr(cpu_info))
        decision = self._decided.get(key)
        if decision is None:
            request = self._request_for(aggregate_model)
            decision = request if isinstance(request, Decision) else self.placement.decide(request, cpu_info)
            self._decided[key] = decision
        return decision

    def _request_for(self, model: str | None) -> Request | Decision:
        """The request on a host of an aggregate pinning `model` (once per model)."""
        if self.request is None:
            return self.refused
        if not model:
            return self.request
        found = self._pinned.get(model)
        if found is None:
            try:
                found = self.placement.request(self.extra_specs, image_traits=self.image_traits,
                                               move=self.request.move, source_host=self.request.source_host,
                                               aggregate_model=model)
            except CpuCompatError as exc:
                found = _clipped(Decision(False, str(exc), error=True))
            self._pinned[model] = found
        return found


def _clipped(decision: Decision) -> Decision:
    """`decision` with its reason cut to MAX_REASON characters: reasons
    carry names from cpu_info and extra specs, of any length."""
    reason = clip(decision.reason, MAX_REASON)
    return decision if reason is decision.reason else replace(decision, reason=reason)

