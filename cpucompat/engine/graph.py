"""The cpu_map as a networkx graph: inheritance, features and the subset order.

Nodes are ``("model", name)`` and ``("feature", name)``.  Edges:

* ``inherits``: parent model → child model (legacy ``<model name='P'/>``
  and the ``-vN`` aliases of libvirt >= 10.10);
* ``has``: model → each feature of its data.

`subset_order` is the partial order "A's features ⊆ B's and A's vendor is
none or B's", with models of equal data and vendor (canonical aliases such
as ``Broadwell-v1`` ≡ ``Broadwell``) merged into one node; `hasse` is its
transitive reduction.
"""
from __future__ import annotations

import networkx as nx

from .cpumap import ArchMap

__all__ = ["feature_graph", "subset_order", "hasse", "model_neighbours", "is_subset_model"]


def feature_graph(archmap: ArchMap) -> nx.DiGraph:
    """Models, features and their inheritance as one DiGraph.  O(M·F)."""
    return archmap.cached(_feature_graph, 1)(archmap)


def _feature_graph(archmap: ArchMap) -> nx.DiGraph:
    graph = nx.DiGraph(arch=archmap.name, source=archmap.source)
    for feature in archmap.features:
        graph.add_node(("feature", feature.name), kind="feature", bit=feature.bit,
                       migratable=feature.migratable)
    for model in archmap.models:
        graph.add_node(("model", model.name), kind="model", vendor=model.vendor, index=model.index,
                       features=model.features, alias_of=model.alias_of)
        if model.parent:
            graph.add_edge(("model", model.parent), ("model", model.name), kind="inherits")
        for feature in archmap.iter_features(model.features):
            graph.add_edge(("model", model.name), ("feature", feature.name), kind="has")
    return graph


def subset_order(archmap: ArchMap) -> nx.DiGraph:
    """DAG over model classes: edge A → B when A is strictly below B.

    A model is (features, vendor).  Each node is the tuple of model names
    sharing both (canonical aliases, and models such as 11.3's EPYC-v3 and
    EPYC-v4 that differ only in what libvirt does not model); A ≤ B when
    A's features ⊆ B's and A's vendor is none or B's.  So with equal
    features a vendor-less model sits below a vendor's (cpu64-rhel5 below
    Opteron_G1: it runs wherever Opteron_G1 runs, not only on AMD), and
    models of two vendors never meet.  The graph holds every pair of the
    relation (it is its own transitive closure).  O(M²) integer set tests.
    """
    return archmap.cached(_subset_order, 1)(archmap)


def _subset_order(archmap: ArchMap) -> nx.DiGraph:
    classes: dict[tuple[int, str | None], list[str]] = {}
    for model in archmap.models:
        classes.setdefault((model.features, model.vendor), []).append(model.name)
    nodes = [(tuple(names), bits, vendor) for (bits, vendor), names in classes.items()]
    order = nx.DiGraph(arch=archmap.name)
    for names, bits, vendor in nodes:
        order.add_node(names, features=bits, vendor=vendor)
    for a_names, a_bits, a_vendor in nodes:
        for b_names, b_bits, b_vendor in nodes:
            if a_names is not b_names and _below(a_bits, a_vendor, b_bits, b_vendor):
                order.add_edge(a_names, b_names)
    return order


def _below(a_bits: int, a_vendor: str | None, b_bits: int, b_vendor: str | None) -> bool:
    """(a_bits, a_vendor) ≤ (b_bits, b_vendor) in the model order."""
    return a_bits & ~b_bits == 0 and (a_vendor is None or a_vendor == b_vendor)


def hasse(archmap: ArchMap) -> nx.DiGraph:
    """The Hasse diagram (transitive reduction) of `subset_order`."""
    return archmap.cached(_hasse, 1)(archmap)


def _hasse(archmap: ArchMap) -> nx.DiGraph:
    order = subset_order(archmap)
    reduced = nx.transitive_reduction(order)
    reduced.add_nodes_from(order.nodes(data=True))
    return reduced


def model_neighbours(archmap: ArchMap, name: str) -> tuple[list[str], list[str]]:
    """Models just below and just above `name` in the subset order."""
    diagram = hasse(archmap)
    node = next(n for n in diagram if name in n)
    below = sorted(m for pred in diagram.predecessors(node) for m in pred)
    above = sorted(m for succ in diagram.successors(node) for m in succ)
    return below, above


def is_subset_model(archmap: ArchMap, a: str, b: str) -> bool:
    """True when model `a`'s features are all in model `b`'s."""
    ma, mb = archmap.model(a), archmap.model(b)
    return ma.features & ~mb.features == 0
