"""The names of cpucompat's Placement traits (``CUSTOM_CPUCOMPAT_*``).

The rules live in `cpucompat.nova.customtraits`, below the planner, because
the Nova filter reads these traits too; this module is where the Placement
layer and its users find them, with `domain_trait` taking a planner
`Domain` as well as its common CPU.
"""
from __future__ import annotations

from ..engine.cpu import Expansion
from ..nova import customtraits
from ..nova.customtraits import (DOMAIN_PREFIX, MAX_TRAIT, MODEL_PREFIX, TRAIT_PREFIX, is_cpucompat_trait,
                                 model_trait, model_traits, trait_models)
from ..planner.results import Domain

__all__ = ["TRAIT_PREFIX", "MODEL_PREFIX", "DOMAIN_PREFIX", "MAX_TRAIT", "is_cpucompat_trait", "model_trait",
           "domain_trait", "model_traits", "trait_models"]


def domain_trait(domain: Domain | Expansion) -> str:
    """``CUSTOM_CPUCOMPAT_DOMAIN_<MODEL>_<DIGEST>`` of a migration domain
    (or of its common CPU): it follows the common CPU, never the domain's
    number (D1, D2: the order domains are found in)."""
    return customtraits.domain_trait(domain.common if isinstance(domain, Domain) else domain)
