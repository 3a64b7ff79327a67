"""The cpu_map as a graph: inheritance, features, the subset order."""
from __future__ import annotations

from pathlib import Path

import networkx as nx

import cpucompat
from cpucompat.engine.graph import feature_graph, hasse, is_subset_model, model_neighbours, subset_order

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy" / "cpu_map.xml"


def test_feature_graph_links_models_to_their_features(x86):
    graph = feature_graph(x86)
    assert graph.has_edge(("model", "Haswell"), ("feature", "avx2"))
    assert not graph.has_edge(("model", "SandyBridge"), ("feature", "avx2"))
    assert graph.nodes[("feature", "invtsc")]["migratable"] is False
    assert sum(1 for _ in graph.successors(("model", "Nehalem"))) == x86.model("Nehalem").features.bit_count()


def test_legacy_inheritance_becomes_inherits_edges():
    x86 = cpucompat.load_cpu_map(LEGACY).x86
    graph = feature_graph(x86)
    kinds = {d["kind"] for _, _, d in graph.edges(data=True)}
    assert kinds == {"has", "inherits"}
    parent = x86.model("Nehalem").parent
    assert graph.edges[("model", parent), ("model", "Nehalem")]["kind"] == "inherits"


def test_canonical_aliases_share_one_node_of_the_order(map_11):
    order = subset_order(map_11.x86)
    node = next(n for n in order if "Broadwell-IBRS" in n)
    assert "Broadwell-v3" in node


def test_hasse_diagram_is_the_transitive_reduction(x86):
    order, diagram = subset_order(x86), hasse(x86)
    assert nx.is_directed_acyclic_graph(diagram)
    assert set(diagram.edges) <= set(order.edges)
    assert nx.transitive_closure_dag(diagram).edges == nx.transitive_closure_dag(order).edges


def test_neighbours_are_immediate(x86):
    below, above = model_neighbours(x86, "Westmere")
    assert "Nehalem" in below and "Westmere-IBRS" in above
    assert "Penryn" not in below  # below Nehalem, so not immediately below Westmere
    assert is_subset_model(x86, "Penryn", "Westmere") and not is_subset_model(x86, "Westmere", "Penryn")


def test_vendor_specific_models_never_order_across_vendors(x86):
    order = subset_order(x86)
    for a, b in order.edges:
        va, vb = order.nodes[a]["vendor"], order.nodes[b]["vendor"]
        assert va is None or va == vb


def test_vendorless_model_with_a_vendor_models_features_sits_just_below_it(x86):
    # 9.0: cpu64-rhel5 (no vendor) has exactly Opteron_G1's features (AMD)
    assert x86.model("cpu64-rhel5").features == x86.model("Opteron_G1").features
    below, above = model_neighbours(x86, "Opteron_G1")
    assert "cpu64-rhel5" in below
    assert "Opteron_G1" in model_neighbours(x86, "cpu64-rhel5")[1]


def test_equal_models_of_one_vendor_are_one_node(map_11):
    # 11.3's EPYC-v3 and EPYC-v4 differ only in what libvirt does not model
    order = subset_order(map_11.x86)
    node = next(n for n in order if "EPYC-v3" in n)
    assert "EPYC-v4" in node
