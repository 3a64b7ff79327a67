"""Scheduling decisions: can a request's guest CPU run on (or move to) a host?

All of the Nova filter's logic lives here, on plain values, so it is
testable without Nova and fast enough for every host of every request:

* a host's ``cpu_info`` (JSON text, dict, '' or None) is parsed once per
  distinct text (bounded cache) into a `HostCpu`; a model newer than the map
  is replaced by the one the map decodes from the listed features, and
  feature names the map does not know are kept by name;
* a decision is computed once per distinct (request, host CPU) pair;
* nothing raises: a malformed input is a failing decision with a reason,
  an internal error one flagged as an error.

Rules, per guest CPU mode:

* custom: some model of the request's list (in order), with the extra
  flags, runs on the host (libvirt's compare) and has the required traits;
* host-model: boot anywhere the flags and required traits are met; a move
  needs the destination to run the guest's actual CPU, its source host's
  host-model CPU, and to list the source's features unknown to the map
  (``strict_host_model``);
* host-passthrough / maximum: boot anywhere; a move needs an identical host
  CPU, unknown feature names included (``passthrough_match=exact``), or a
  superset (``superset``);
* none: QEMU's default CPU, no constraint but the required traits.

Forbidden traits exclude hosts offering the feature, in every mode.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from ..engine.compare import compare, features_of
from ..engine.decode import decode_features, host_model
from .config import CpuPolicy, parse_flags
from ..engine.cpu import Cpu, is_x86, resolve_arch
from ..engine.cpumap import CpuMap
from ..errors import CpuCompatError, UnknownModel
from ..engine.names import trait_feature
from ..inputs.parse import parse_cpu_info
from .traits import trait_requirements

__all__ = ["SPEC_MODE", "SPEC_MODEL", "SPEC_FLAGS", "HINT_SOURCE", "AGGREGATE_MODEL", "SOURCE_MODES",
           "HostCpu", "Request", "Decision", "NO_CPU_INFO", "Lru", "CpuPlacement", "RequestDecisions"]

SPEC_MODE, SPEC_MODEL, SPEC_FLAGS = "cpucompat:cpu_mode", "cpucompat:cpu_model", "cpucompat:cpu_flags"
HINT_SOURCE = "cpucompat_source_host"
AGGREGATE_MODEL = "cpucompat_cpu_model"
SOURCE_MODES = ("host-model", "host-passthrough", "maximum")  # modes whose moves depend on the source CPU


@dataclass(frozen=True, slots=True)
class HostCpu:
    """A compute host's CPU as its ``cpu_info`` gives it.

    ``cpu`` is what the loaded map can describe.  ``reported_model`` is the
    model cpu_info names, which a newer libvirt may know and the map not;
    ``unknown`` the feature names the map does not know.  Both count for
    exactness decisions: nothing the host reports is silently lost.
    """

    cpu: Cpu
    reported_model: str
    unknown: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Request:
    """What one scheduling request needs from a host's CPU."""

    mode: str
    models: tuple[str, ...] = ()
    flags: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()  # features from required traits
    forbidden: tuple[str, ...] = ()
    source_host: str | None = None  # set for moves
    source_cpu: HostCpu | None = None  # the source host's CPU, when known
    passthrough_match: str = "exact"
    strict_host_model: bool = True

    @property
    def is_move(self) -> bool:
        return self.source_host is not None

    @property
    def source_unknown(self) -> bool:
        """A move whose rule needs the source CPU, which is not known: the
        boot rule applies."""
        return self.is_move and self.mode in SOURCE_MODES and self.source_cpu is None


@dataclass(frozen=True, slots=True)
class Decision:
    passes: bool
    reason: str
    model: str | None = None  # the custom model the guest will get
    error: bool = False  # the reason is a fault to report (bad input, internal error), not the host's CPU


NO_CPU_INFO = Decision(False, "host reports no CPU information (cpu_info is empty)")


class Lru:
    """A small thread-safe LRU mapping (the scheduler calls from many threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self.lock:
            self._put(key, value)

    def add(self, key) -> bool:
        """Insert `key`; True for the one caller that found it absent."""
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return False
            self._put(key, True)
            return True

    def _put(self, key, value) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class CpuPlacement:
    """Decisions for one validated CpuPolicy, with bounded caches."""

    def __init__(self, policy: CpuPolicy, cache_size: int = 4096) -> None:
        self.policy = policy
        self.cpumap: CpuMap = policy.cpumap
        self._hosts = Lru(cache_size)
        self._decisions = Lru(cache_size * 4)
        self._known_hosts: dict[str, Any] = {}  # host name → last cpu_info seen (for moves)

    # -- hosts ---------------------------------------------------------------
    def host_cpu(self, cpu_info: Any) -> HostCpu | Decision:
        """The host CPU of a cpu_info value, or the failing decision saying
        why there is none (an error when cpucompat itself failed)."""
        if cpu_info is None or cpu_info == "" or cpu_info == {}:
            return NO_CPU_INFO
        key = cpu_info if isinstance(cpu_info, str) else _dict_key(cpu_info)
        found = self._hosts.get(key)
        if found is None:
            try:
                found = _host_cpu(cpu_info, self.cpumap)
            except CpuCompatError as exc:  # a message with a source already starts "cpu_info: "
                found = Decision(False, f"unusable {exc}" if exc.source else f"unusable cpu_info: {exc}")
            except Exception as exc:  # never raise into the scheduler
                found = Decision(False, f"internal error reading cpu_info, host refused: "
                                        f"{type(exc).__name__}: {exc}", error=True)
            self._hosts.put(key, found)
        return found

    def remember(self, hosts) -> None:
        """Note each host's cpu_info (objects with .host and .cpu_info), so a
        later move away from a host knows its CPU: Nova strips the source
        from the hosts a move request is filtered over."""
        known = self._known_hosts
        for host in hosts:
            cpu_info = getattr(host, "cpu_info", None)
            if cpu_info and known.get(host.host) is not cpu_info:
                known[host.host] = cpu_info  # one dict store: atomic under the GIL

    def source_cpu(self, host: str, lookup: Callable[[str], Any] | None = None) -> HostCpu | None:
        """The CPU of a move's source host: its cpu_info as remember() last
        saw it, else as `lookup(host)` gives it (Nova's database), then
        remembered; None when neither knows it."""
        cpu_info = self._known_hosts.get(host)
        if cpu_info is None and lookup is not None:
            cpu_info = lookup(host)
            if cpu_info:
                self._known_hosts[host] = cpu_info
        found = self.host_cpu(cpu_info)
        return found if isinstance(found, HostCpu) else None

    # -- requests --------------------------------------------------------------
    def request(self, extra_specs: Mapping[str, Any] | None = None, *, image_traits: Sequence[str] = (),
                source_host: str | None = None, aggregate_model: str | None = None,
                lookup_source: Callable[[str], Any] | None = None) -> Request:
        """Build the Request of a scheduling request from plain values;
        `lookup_source(host)` gives a move's source cpu_info when this
        process has not seen the host, and is called only when the mode
        needs it.

        Raises CpuCompatError for unusable extra specs (the filter turns that
        into rejecting every host with the reason)."""
        specs = {str(k): str(v) for k, v in (extra_specs or {}).items()}
        policy = self.policy
        mode = specs.get(SPEC_MODE, policy.mode)
        models = policy.models
        if SPEC_MODEL in specs:
            models = tuple(self.cpumap.x86.model(m.strip(), source=SPEC_MODEL).name
                           for m in specs[SPEC_MODEL].split(",") if m.strip())
        elif aggregate_model:
            models = (self.cpumap.x86.model(aggregate_model, source=f"aggregate {AGGREGATE_MODEL}").name,)
            if SPEC_MODE not in specs:
                mode = "custom"
        flags = policy.flags
        if SPEC_FLAGS in specs:
            flags = tuple(dict(policy.flags + parse_flags(specs[SPEC_FLAGS].split(","), self.cpumap,
                                                          source=SPEC_FLAGS)).items())
        if mode not in ("custom", "host-model", "host-passthrough", "maximum", "none"):
            raise CpuCompatError(f"unknown CPU mode {mode!r}", source=SPEC_MODE)
        if mode == "custom" and not models:
            raise CpuCompatError("cpu_mode=custom without a CPU model", source=SPEC_MODEL)
        required, forbidden = trait_requirements(specs)
        for trait in image_traits:
            feature = trait_feature(trait)
            if feature and feature not in required:
                required += (feature,)
        source_cpu = self.source_cpu(source_host, lookup_source) if source_host and mode in SOURCE_MODES else None
        return Request(mode, models if mode == "custom" else (), flags, required, forbidden, source_host,
                       source_cpu, policy.passthrough_match, policy.strict_host_model)

    # -- decisions ---------------------------------------------------------------
    def decide(self, request: Request, cpu_info: Any) -> Decision:
        """Can `request`'s guest run on the host described by `cpu_info`?"""
        host = self.host_cpu(cpu_info)
        if not isinstance(host, HostCpu):
            return host
        key = (request, host)
        found = self._decisions.get(key)
        if found is None:
            try:
                found = self._decide(request, host)
            except CpuCompatError as exc:  # a name the map lacks: the request's fault, not the host's
                found = Decision(False, str(exc), error=True)
            except Exception as exc:  # a bug must not take the scheduler down
                found = Decision(False, f"internal error, host refused: {type(exc).__name__}: {exc}", error=True)
            self._decisions.put(key, found)
        return found

    def _decide(self, request: Request, host: HostCpu) -> Decision:
        x86 = self.cpumap.x86
        host_bits = features_of(host.cpu, self.cpumap)
        forbidden = x86.bits(request.forbidden) & host_bits
        if forbidden:
            return Decision(False, f"host provides forbidden features {', '.join(x86.names(forbidden))}")
        mode = request.mode
        if mode == "custom":
            return self._custom(request, host.cpu)
        missing = (x86.bits(request.required) | x86.bits(n for n, p in request.flags if p == "require")) & ~host_bits
        if missing:
            return Decision(False, f"host lacks required features {', '.join(x86.names(missing))}")
        if not request.is_move or mode == "none":
            return Decision(True, f"{mode} guest can boot here")
        source = request.source_cpu
        if source is None:
            return Decision(True, f"source host {request.source_host} CPU unknown: boot rule applied")
        # names the map cannot describe may be in the guest's CPU: the destination needs them too
        unknown_lacking = sorted(source.unknown - host.unknown)
        if mode == "host-model":
            if not request.strict_host_model:
                return Decision(True, "host-model move, strict_host_model off")
            if is_x86(source.cpu.arch):
                guest = host_model(source.cpu, self.cpumap).as_cpu().with_features(request.flags)
            else:  # other maps describe models by name only: compare() matches the source's model
                guest = Cpu(model=source.cpu.model, arch=source.cpu.arch, match=None)
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

    def _custom(self, request: Request, host: Cpu) -> Decision:
        x86 = self.cpumap.x86
        need = x86.bits(request.required)
        reasons = []
        for name in request.models:
            guest = Cpu(model=name, features=request.flags)
            lacking = need & ~features_of(guest, self.cpumap)
            if lacking:
                reasons.append(f"{name} lacks required {', '.join(x86.names(lacking))}")
                continue
            verdict = compare(guest, host, self.cpumap)
            if verdict.compatible:
                return Decision(True, f"runs {name}", name)
            reasons.append(f"{name}: {verdict.reason}")
        return Decision(False, "; ".join(reasons))


def _host_cpu(cpu_info: str | dict, cpumap: CpuMap) -> HostCpu:
    """Parse a cpu_info.  Nova's x86 features are libvirt's full expanded
    list, so a model the map does not know (a newer libvirt's) adds nothing:
    the host gets the model the map decodes from those features."""
    cpu = parse_cpu_info(cpu_info, "cpu_info", cpumap)
    archmap = resolve_arch(cpumap, cpu)
    unknown = cpu.unknown_features
    reported = cpu.model
    if is_x86(cpu.arch) and reported not in archmap.model_by_name:
        bits = features_of(replace(cpu, model=None), cpumap)
        if not bits:
            raise UnknownModel(f"unknown CPU model '{reported}' in cpu_map {archmap.source} and no known "
                               "features to decode one from", source="cpu_info")
        cpu = replace(cpu, model=decode_features(bits, cpu.vendor, None, cpumap, source="cpu_info").model)
    features_of(cpu, cpumap)  # an unknown model of another arch: fail here, once
    return HostCpu(cpu, reported, unknown)


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
        self.refused = Decision(False, error or "", error=True)
        self._pinned: dict[str, Request | Decision] = {}  # aggregate model → its request, or why not
        self._decided: dict = {}

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
                                               source_host=self.request.source_host, aggregate_model=model)
            except CpuCompatError as exc:
                found = Decision(False, str(exc), error=True)
            self._pinned[model] = found
        return found


def _dict_key(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)
