"""cpucompat's own Placement traits: ``CUSTOM_CPUCOMPAT_*``.

Two kinds, both valid Placement names (``CUSTOM_`` + ``[A-Z0-9_]``, at
most 255 characters) and stable across runs while the answer they stand
for does not change:

* ``CUSTOM_CPUCOMPAT_MODEL_<MODEL>``: the host can run the map's custom
  model <MODEL> (``cpu_mode = custom``, the model's own vendor), as
  libvirt's compare decides it.  libvirt's names (``Skylake-Server-v4``,
  ``Opteron_G5``) are upper-cased, every other character ``_``; a map whose
  names collide that way is refused (`model_traits`).
* ``CUSTOM_CPUCOMPAT_DOMAIN_<MODEL>_<DIGEST>``: the host is in the
  migration domain whose common CPU is that model with a feature set whose
  digest (vendor, model, every feature: not the map's version, not the
  order domains are found in) is <DIGEST>.

Here, below the planner, so that the Nova filter reads them too.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Mapping

from ..engine.compare import compare
from ..engine.cpu import Cpu, Expansion
from ..engine.cpumap import ArchMap, CpuMap
from ..errors import InvalidCpuMap

if TYPE_CHECKING:
    from .traits import TraitRequirements

__all__ = ["TRAIT_PREFIX", "MODEL_PREFIX", "DOMAIN_PREFIX", "MAX_TRAIT", "is_cpucompat_trait", "model_trait",
           "domain_trait", "model_traits", "trait_models", "model_guest", "resolve_model_traits",
           "model_trait_problem"]

TRAIT_PREFIX = "CUSTOM_CPUCOMPAT_"
MODEL_PREFIX = TRAIT_PREFIX + "MODEL_"
DOMAIN_PREFIX = TRAIT_PREFIX + "DOMAIN_"
MAX_TRAIT = 255  # Placement's trait name column
DIGEST_CHARS = 10  # hex digits (40 bits): no two common CPUs of one cloud share one
MAX_DOMAIN_MODEL = 64  # characters of the model kept in a domain trait: the digest tells domains apart


def is_cpucompat_trait(name: str) -> bool:
    """True for a trait cpucompat sets (and may therefore remove)."""
    return name.startswith(TRAIT_PREFIX)


def _trait_text(text: str) -> str:
    """`text` in Placement's alphabet: ASCII letters and digits upper-cased,
    anything else ``_`` (never a letter another script upper-cases to ASCII)."""
    return "".join(c.upper() if c.isascii() and c.isalnum() else "_" for c in text)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS].upper()


def _bounded(prefix: str, body: str, exact: str) -> str:
    """prefix + body, or when over MAX_TRAIT, body cut and a digest of the
    `exact` name appended (still one name per exact name)."""
    if len(prefix) + len(body) <= MAX_TRAIT:
        return prefix + body
    keep = MAX_TRAIT - len(prefix) - 1 - DIGEST_CHARS
    return f"{prefix}{body[:keep]}_{_digest(exact)}"


def model_trait(model_name: str) -> str:
    """``CUSTOM_CPUCOMPAT_MODEL_<NAME>`` of a libvirt model name."""
    return _bounded(MODEL_PREFIX, _trait_text(model_name), model_name)


def domain_trait(common: Expansion) -> str:
    """``CUSTOM_CPUCOMPAT_DOMAIN_<MODEL>_<DIGEST>`` of a domain's common CPU.

    Two domains with the same common CPU get the same trait: a guest of
    that CPU runs on the hosts of both, which is what the trait promises."""
    identity = "\0".join([common.vendor or "", common.model or "", ",".join(sorted(common.expanded))])
    return f"{DOMAIN_PREFIX}{_trait_text(common.model or 'none')[:MAX_DOMAIN_MODEL]}_{_digest(identity)}"


def _model_traits(archmap: ArchMap) -> Mapping[str, str]:
    table: dict[str, str] = {}
    owner: dict[str, str] = {}
    for model in archmap.models:
        trait = model_trait(model.name)
        if trait in owner:
            raise InvalidCpuMap(f"models {owner[trait]} and {model.name} both map to the Placement trait {trait}",
                                source=archmap.source)
        owner[trait] = model.name
        table[model.name] = trait
    return table


def model_traits(archmap: ArchMap) -> Mapping[str, str]:
    """Every model name of `archmap` → its model trait (computed once per
    map).  Raises InvalidCpuMap when two names give one trait: Placement
    could not tell them apart."""
    return archmap.cached(_model_traits, 4)(archmap)


def _trait_models(archmap: ArchMap) -> Mapping[str, str]:
    return {trait: name for name, trait in model_traits(archmap).items()}


def trait_models(archmap: ArchMap) -> Mapping[str, str]:
    """Model trait → model name of `archmap` (the inverse of `model_traits`)."""
    return archmap.cached(_trait_models, 4)(archmap)


def model_guest(archmap: ArchMap, name: str) -> Cpu:
    """The guest CPU a model trait stands for: custom mode, the model with
    the vendor the map gives it (libvirt then refuses other vendors' hosts)."""
    return Cpu(model=name, vendor=archmap.model(name).vendor)


Names = tuple[str, ...]


def resolve_model_traits(traits: "TraitRequirements", archmap: ArchMap) -> tuple[Names, Names, Names, Names]:
    """A request's model traits as (models required, models forbidden) and
    its unknown (required, forbidden) traits, those naming no model of
    `archmap` added."""
    required, forbidden = traits.unknown_required, traits.unknown_forbidden
    if not traits.model_required and not traits.model_forbidden:
        return (), (), required, forbidden
    known = trait_models(archmap)
    return (tuple(known[t] for t in traits.model_required if t in known),
            tuple(known[t] for t in traits.model_forbidden if t in known),
            required + tuple(t for t in traits.model_required if t not in known),
            forbidden + tuple(t for t in traits.model_forbidden if t not in known))


def model_trait_problem(runs: Names, runs_none: Names, host: Cpu, cpumap: CpuMap) -> str | None:
    """Why `host` lacks the model trait of one of `runs` or has that of one
    of `runs_none`, by the rule Placement's traits were computed with; None
    when it does not."""
    archmap = cpumap.x86
    for name in runs:
        verdict = compare(model_guest(archmap, name), host, cpumap)
        if not verdict.compatible:
            return f"requires {model_trait(name)}: host cannot run {name}: {verdict.reason}"
    for name in runs_none:
        if compare(model_guest(archmap, name), host, cpumap).compatible:
            return f"forbids {model_trait(name)}: host can run {name}"
    return None
