"""CpuCompatFilter: pass a host only if the request's guest CPU runs there.

Enable it in nova.conf::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = cpucompat.filters.CpuCompatFilter
    enabled_filters = ...,CpuCompatFilter

All logic lives in cpucompat.scheduling; this class only adapts Nova's
RequestSpec and HostState to it, and never raises.
"""
from __future__ import annotations

from oslo_config import cfg
from oslo_log import log as logging

from nova.scheduler import filters
from nova.scheduler import utils as scheduler_utils

from cpucompat import config
from cpucompat.scheduling import AGGREGATE_MODEL, HINT_SOURCE, CpuPlacement

LOG = logging.getLogger(__name__)
CONF = cfg.CONF


class CpuCompatFilter(filters.BaseHostFilter):
    """Passes hosts whose CPU can run (or receive) the request's guest CPU."""

    RUN_ON_REBUILD = False

    def __init__(self, conf: cfg.ConfigOpts | None = None) -> None:
        self.conf = conf if conf is not None else CONF
        if "cpucompat" not in self.conf:
            config.register_opts(self.conf)
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
        key = self._config_key()
        if key == self._policy_key:
            return
        try:
            self._load()
            LOG.info("cpucompat: CPU policy reloaded: %s", self.placement.policy.mode)
        except Exception as exc:
            self._policy_key = key
            LOG.error("cpucompat: new configuration refused, keeping the previous one: %s", exc)

    def filter_all(self, filter_obj_list, spec_obj):
        # The request is worked out once per call, in locals (one filter
        # instance serves all of nova-scheduler's threads), and each distinct
        # (aggregate model, cpu_info) is decided once: 10,000 hosts with 50
        # distinct CPUs cost 50 decisions and 10,000 dict lookups.
        hosts = list(filter_obj_list)
        if not self.RUN_ON_REBUILD and scheduler_utils.request_is_rebuild(spec_obj):
            return hosts  # same-host rebuild: Nova's rule for every filter
        request, error = self._request_for(spec_obj, hosts)
        decided: dict = {}
        return [host for host in hosts if self._passes(host, spec_obj, request, error, decided)]

    def host_passes(self, host_state, spec_obj) -> bool:
        request, error = self._request_for(spec_obj, [host_state])
        return self._passes(host_state, spec_obj, request, error, {})

    def _request_for(self, spec_obj, hosts):
        try:
            self._reload_if_changed()
            self.placement.remember(hosts)
            request = self.placement.request(_extra_specs(spec_obj), image_traits=_image_traits(spec_obj),
                                             source_host=_source_host(spec_obj))
            return request, None
        except Exception as exc:
            LOG.warning("cpucompat: cannot use the request, refusing all hosts: %s", exc)
            return None, str(exc)

    def _passes(self, host_state, spec_obj, request, error, decided: dict) -> bool:
        try:
            if request is None:
                LOG.debug("%s fails CpuCompatFilter: %s", host_state.host, error)
                return False
            cpu_info = getattr(host_state, "cpu_info", None)
            model = _aggregate_model(host_state)
            key = (model, cpu_info if isinstance(cpu_info, str) or cpu_info is None else repr(cpu_info))
            decision = decided.get(key)
            if decision is None:
                if model:
                    request = self.placement.request(_extra_specs(spec_obj), image_traits=_image_traits(spec_obj),
                                                     source_host=_source_host(spec_obj), aggregate_model=model)
                decision = decided[key] = self.placement.decide(request, cpu_info)
            if not decision.passes:
                LOG.debug("%s fails CpuCompatFilter: %s", host_state.host, decision.reason)
            return decision.passes
        except Exception as exc:  # documented rule: an internal error refuses the host
            LOG.warning("cpucompat: error deciding %s, host refused: %s", getattr(host_state, "host", "?"), exc)
            return False


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


def _source_host(spec_obj) -> str | None:
    """The host a guest moves away from: our scheduler hint, else the first
    ignored host (live migration, evacuate and resize put the source there)."""
    if "scheduler_hints" in spec_obj and spec_obj.scheduler_hints:
        hinted = spec_obj.get_scheduler_hint(HINT_SOURCE)
        if hinted:
            return str(hinted)
    if "ignore_hosts" in spec_obj and spec_obj.ignore_hosts:
        return spec_obj.ignore_hosts[0]
    LOG.debug("cpucompat: request is not a move (no source host): boot rule")
    return None


def _aggregate_model(host_state) -> str | None:
    for aggregate in getattr(host_state, "aggregates", None) or []:
        model = (getattr(aggregate, "metadata", None) or {}).get(AGGREGATE_MODEL)
        if model:
            return model
    return None
