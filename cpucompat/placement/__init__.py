"""Pushing cpucompat's answers down to Placement as ``CUSTOM_CPUCOMPAT_*``
traits: trait names (names.py), traits per host (traits.py), Nova's
provider config files (providerconfig.py), flavor extra specs and compute
configuration for a domain or a model (flavorspecs.py).

A layer above the planner and the Nova rules, below the CLI.
"""
from .names import TRAIT_PREFIX, domain_trait, is_cpucompat_trait, model_trait
from .traits import host_traits

__all__ = ["TRAIT_PREFIX", "domain_trait", "host_traits", "is_cpucompat_trait", "model_trait"]
