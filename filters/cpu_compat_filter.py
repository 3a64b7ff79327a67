"""CpuCompatFilter: pass a host only if the request's guest CPU runs there.

Enable it in nova.conf by appending it to the filters already enabled::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = cpucompat.filters.CpuCompatFilter
    enabled_filters = ...,CpuCompatFilter

All logic lives in cpucompat.nova.scheduling; this class only adapts Nova's
RequestSpec and HostState to it, and never raises.  Host names, cpu_info,
extra specs and aggregate metadata are untrusted: every log line shows them
through cpucompat.display (escaped, cut to a bounded length).
"""
from __future__ import annotations

import logging as std_logging
from functools import partial
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from nova import context as nova_context
from nova import exception, objects
from nova.scheduler import filters
from nova.scheduler import utils as scheduler_utils

from cpucompat.display import shown
from cpucompat.nova import config
from cpucompat.nova.cache import Lru
from cpucompat.nova.moves import MoveKind, move_kind
from cpucompat.nova.scheduling import MAX_REASON, CpuPlacement, Decision, RequestDecisions
from cpucompat.nova.specs import AGGREGATE_MODEL, SPEC_MODE

MISCONFIGURED_NAMED = 5  # computes named in the warning about a CPU model they cannot run
LOG = logging.getLogger(__name__)
CONF = cfg.CONF
MAX_NAMED_TRAITS = 10  # unknown traits a request names in warnings; more are counted


def nova_cpu_info(context, host: str) -> Any:
    """The cpu_info Nova's database holds for `host` (its first compute node
    that has one), looked up in the host's cell; None when it cannot say."""
    try:
        try:
            cell = objects.HostMapping.get_by_host(context, host).cell_mapping
        except exception.HostMappingNotFound:
            cell = None
        with nova_context.target_cell(context, cell) as cell_context:
            nodes = objects.ComputeNodeList.get_all_by_host(cell_context, host)
        return next((node.cpu_info for node in nodes if node.cpu_info), None)
    except Exception as exc:  # no database, no context, no such host: the caller falls back
        LOG.debug("cpucompat: cannot look up the cpu_info of %s in Nova: %s", shown(host), _said(exc))
        return None


def nova_instance_state(context, instance_uuid: str, cell=None) -> tuple[str | None, str | None]:
    """The instance's (task_state, host) as Nova's database holds them, read
    in `cell` (the move's cell), else in the cell of its instance mapping.
    Nova's API sets task_state before conductor asks the scheduler: it says
    which move this is ('migrating' only for a live migration).  Raises
    when Nova cannot be asked."""
    if context is None:
        raise LookupError("no request context to ask Nova with")
    if cell is None:
        cell = objects.InstanceMapping.get_by_instance_uuid(context, instance_uuid).cell_mapping
    with nova_context.target_cell(context, cell) as cell_context:
        instance = objects.Instance.get_by_uuid(cell_context, instance_uuid, expected_attrs=[])
        return instance.task_state, instance.host


class CpuCompatFilter(filters.BaseHostFilter):
    """Passes hosts whose CPU can run (or receive) the request's guest CPU."""

    RUN_ON_REBUILD = False
    # every instance of a multi-create shares one RequestSpec, hence one answer;
    # later instances are placed among the hosts the first one's filtering left
    run_filter_once_per_request = True

    def __init__(self, conf: cfg.ConfigOpts | None = None, source_cpu_info=None, instance_state=None) -> None:
        self.conf = conf if conf is not None else CONF
        if "cpucompat" not in self.conf:
            config.register_opts(self.conf)
        # (context, host) → cpu_info of a move's source this process has not seen
        self.source_cpu_info = source_cpu_info or nova_cpu_info
        # (context, instance uuid, cell) → the instance's (task_state, host): which move this is
        self.instance_state = instance_state or nova_instance_state
        # messages already logged at WARNING/ERROR: each is logged once (they are bounded: see _said)
        self._logged = Lru(256, 1 << 20)
        # a bad configuration is refused here, at start-up, not at a request
        self._load()

    def _load(self) -> None:
        policy = config.load_policy(self.conf)
        self.placement = CpuPlacement(policy, self.conf.cpucompat.cache_size)
        self._policy_key = self._config_key()

    def _config_key(self) -> tuple:
        group = self.conf.cpucompat
        return (group.cpu_mode, tuple(group.cpu_models), tuple(group.cpu_model_extra_flags),
                group.cpu_map, group.passthrough_match, group.strict_host_model)

    def _reload_if_changed(self) -> None:
        """Mutable options (SIGHUP): swap atomically; keep the old policy on error."""
        key = None
        try:
            key = self._config_key()  # raises for a value its option refuses (cpu_mode = bogus)
            if key == self._policy_key:
                return
            self._load()
            LOG.info("cpucompat: CPU policy reloaded: %s", self.placement.policy.mode)
        except Exception as exc:
            message = "cpucompat: new configuration refused, keeping the previous one: %s"
            if key is None:  # unreadable options: every request finds them again
                self._log_once(LOG.error, message, _said(exc))
            else:
                self._policy_key = key  # not retried until the options change again
                LOG.error(message, _said(exc))

    def _log_once(self, log, message: str, *args: object) -> None:
        """Log `message % args` unless this very line was logged already."""
        line = message % args
        if self._logged.add(line, len(line)):
            log(message, *args)

    def filter_all(self, filter_obj_list, spec_obj):
        hosts = list(filter_obj_list)
        if not self.RUN_ON_REBUILD and scheduler_utils.request_is_rebuild(spec_obj):
            return hosts  # same-host rebuild: Nova's rule for every filter, before the request is even read
        return self._passing(hosts, self._decisions_for(spec_obj, hosts))

    def host_passes(self, host_state, spec_obj) -> bool:
        return bool(self._passing([host_state], self._decisions_for(spec_obj, [host_state])))

    def _decisions_for(self, spec_obj, hosts) -> RequestDecisions:
        self._reload_if_changed()
        placement = self.placement
        extra_specs, image_traits = {}, []
        try:
            placement.remember(hosts)
            extra_specs, image_traits = _extra_specs(spec_obj), _image_traits(spec_obj)
            context = getattr(spec_obj, "_context", None)
            move, source_host = self._move(spec_obj, context)
            lookup = partial(self.source_cpu_info, context)
            request = placement.request(extra_specs, image_traits=image_traits, move=move,
                                        source_host=source_host, lookup_source=lookup)
        except Exception as exc:
            self._log_once(LOG.warning, "cpucompat: cannot use the request, refusing all hosts: %s", _said(exc))
            return RequestDecisions(placement, extra_specs, image_traits, None, str(exc))
        self._warn_unknown("required", request.unknown_required, "every host refused")
        self._warn_unknown("forbidden", request.unknown_forbidden, "none excluded")
        if SPEC_MODE in extra_specs:
            self._log_once(LOG.warning, "cpucompat: flavor %s sets %s=%s, which Nova does not honour (nova-compute "
                                        "gives every guest its own [libvirt] cpu_mode): every host refused",
                           shown(_flavor_name(spec_obj)), SPEC_MODE, shown(extra_specs[SPEC_MODE]))
        if request.source_unknown:
            LOG.debug("cpucompat: CPU of the source host %s unknown (not seen by this scheduler, not found "
                      "through Nova): %s live migration checked by the boot rule", shown(source_host), request.mode)
        return RequestDecisions(placement, extra_specs, image_traits, request)

    def _warn_unknown(self, policy: str, traits: tuple[str, ...], outcome: str) -> None:
        """One warning per distinct trait, whatever requests carry it; a
        request naming more than MAX_NAMED_TRAITS gets one more line counting
        the rest."""
        for trait in traits[:MAX_NAMED_TRAITS]:
            self._log_once(LOG.warning, "cpucompat: %s trait %s is unknown to os-traits and cpucompat: no host "
                                        "has it, %s", policy, shown(trait), outcome)
        if len(traits) > MAX_NAMED_TRAITS:
            self._log_once(LOG.warning, "cpucompat: %d more %s traits are unknown to os-traits and cpucompat, %s",
                           len(traits) - MAX_NAMED_TRAITS, policy, outcome)

    def _move(self, spec_obj, context) -> tuple[MoveKind, str | None]:
        """What the request is, and the host a live migration leaves.

        A same-host rebuild carries Nova's ``_nova_check_type`` hint.  Every
        move is restricted to its instance's cell (requested_destination.cell);
        the instance's task_state, read there, tells the moves apart, and
        only a live migration ('migrating') keeps the guest's CPU: its
        source is the instance's host.  When Nova cannot be asked (no
        context, cell database unreachable), a move naming its source in
        ignore_hosts is judged by the live-migration rule, with one warning:
        the strict choice, since a wrong refusal shows at once and a wrong
        acceptance fails late in libvirt."""
        if scheduler_utils.request_is_rebuild(spec_obj):
            return MoveKind.REBUILD, None
        if not _is_move(spec_obj):
            return MoveKind.BOOT, None
        ignored = list(spec_obj.ignore_hosts or []) if "ignore_hosts" in spec_obj else []
        try:
            task_state, host = self.instance_state(context, spec_obj.instance_uuid,
                                                   spec_obj.requested_destination.cell)
        except Exception as exc:
            source = ignored[0] if ignored else None
            if source:
                self._log_once(LOG.warning, "cpucompat: cannot ask Nova which move instance %s makes (%s): checked "
                                            "as a live migration from %s", shown(spec_obj.instance_uuid),
                               _said(exc), shown(source))
            else:
                self._log_once(LOG.warning, "cpucompat: cannot ask Nova which move instance %s makes (%s): it names "
                                            "no source host, checked by the boot rule",
                               shown(spec_obj.instance_uuid), _said(exc))
            return MoveKind.UNKNOWN, source
        kind = move_kind(task_state)
        LOG.debug("cpucompat: instance %s in task_state %s: %s", shown(spec_obj.instance_uuid),
                  shown(task_state), kind)
        if kind is MoveKind.LIVE_MIGRATION:
            return kind, host or (ignored[0] if ignored else None)
        return kind, None

    def _passing(self, hosts: list, decisions: RequestDecisions) -> list:
        """The hosts whose decision passes.  Per host only a lookup: the
        decisions are per distinct (aggregate model, cpu_info).  Computes
        that cannot run the CPU model their own Nova would give (a
        configuration error) make one warning per model and request."""
        passing = []
        misconfigured: dict[str, list[str]] = {}
        debug = LOG.isEnabledFor(std_logging.DEBUG)
        decide = decisions.decide
        for host_state in hosts:
            try:
                decision = decide(getattr(host_state, "cpu_info", None), _aggregate_model(host_state))
            except Exception as exc:  # documented rule: an internal error refuses the host
                decision = Decision(False, f"internal error, host refused: {type(exc).__name__}: {_said(exc)}",
                                    error=True)
            if decision.passes:
                passing.append(host_state)
                continue
            if decision.error and decisions.request is not None:
                self._log_once(LOG.warning, "cpucompat: hosts refused: %s", _said(decision.reason))
            if decision.misconfigured:
                misconfigured.setdefault(str(decision.model), []).append(str(getattr(host_state, "host", "?")))
            if debug:
                LOG.debug("%s fails CpuCompatFilter: %s", shown(getattr(host_state, "host", "?")),
                          _said(decision.reason))
        self._warn_misconfigured(misconfigured)
        return passing

    def _warn_misconfigured(self, misconfigured: dict[str, list[str]]) -> None:
        """One warning per CPU model for the computes that cannot run it
        (logged again only when their number or first names change)."""
        for model, computes in misconfigured.items():
            named = " ".join(shown(name) for name in computes[:MISCONFIGURED_NAMED])
            more = len(computes) - MISCONFIGURED_NAMED
            self._log_once(LOG.warning, "cpucompat: %s (%s) cannot run CPU model %s, which Nova's driver gives "
                                        "their guests (the first of cpu_models with the flavor's required "
                                        "traits): hosts refused; check their [libvirt] cpu_models",
                           f"{len(computes)} compute" + ("s" if len(computes) != 1 else ""),
                           named + (f" and {more} more" if more > 0 else ""), shown(model))


def _said(text: object) -> str:
    """An error or a reason as a log line carries it: escaped, cut to MAX_REASON characters."""
    return shown(text, MAX_REASON)


def _flavor_name(spec_obj) -> str:
    try:
        return str(spec_obj.flavor.name)
    except Exception:  # a RequestSpec or Flavor built without it (tests, old records)
        return "?"


def _extra_specs(spec_obj) -> dict:
    if "flavor" in spec_obj and spec_obj.flavor is not None:
        return dict(spec_obj.flavor.extra_specs or {})
    return {}


def _image_traits(spec_obj) -> list:
    if "image" in spec_obj and spec_obj.image is not None and "properties" in spec_obj.image:
        props = spec_obj.image.properties
        if "traits_required" in props:
            return list(props.traits_required or [])
    return []


def _is_move(spec_obj) -> bool:
    # conductor restricts every move and unshelve to the instance's cell (requested_destination.cell,
    # set even to None for a cross-cell resize); a boot's destination never has the field
    destination = spec_obj.requested_destination if "requested_destination" in spec_obj else None
    return destination is not None and "cell" in destination


def _aggregate_model(host_state) -> str | None:
    for aggregate in getattr(host_state, "aggregates", None) or []:
        model = (getattr(aggregate, "metadata", None) or {}).get(AGGREGATE_MODEL)
        if model:
            return model
    return None
