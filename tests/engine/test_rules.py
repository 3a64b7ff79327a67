"""libvirt's vocabulary is written once, and its members are the strings libvirt writes."""
from __future__ import annotations

import json

import cpucompat
from cpucompat.engine import rules
from cpucompat.nova import config


def test_members_equal_and_hash_as_their_strings_so_json_is_unchanged():
    assert rules.Mode.HOST_MODEL == "host-model" and hash(rules.Policy.REQUIRE) == hash("require")
    assert {"require": 1}[rules.Policy.REQUIRE] == 1
    result = cpucompat.compare(cpucompat.Cpu(model="Nehalem"), cpucompat.Cpu(model="Haswell", arch="x86_64"))
    assert json.dumps(result.to_dict()["result"]) == '"superset"'
    assert result.result is rules.Result.SUPERSET is cpucompat.SUPERSET


def test_the_lists_of_values_are_libvirts():
    assert rules.MODES == ("custom", "host-model", "host-passthrough", "maximum")
    assert rules.MATCHES == ("minimum", "exact", "strict")
    assert rules.CHECKS == ("default", "none", "partial", "full")
    assert rules.POLICIES == ("force", "require", "optional", "disable", "forbid")
    assert rules.FALLBACKS == ("allow", "forbid")
    assert config.MODES == (*rules.MODES, "none")


def test_a_cpu_built_in_code_and_one_parsed_from_xml_are_the_same_value():
    parsed = cpucompat.parse_cpus("<cpu mode='custom' match='exact'><model fallback='allow'>Haswell</model>"
                                  "<feature policy='require' name='vmx'/></cpu>")[0]
    built = cpucompat.Cpu(model="Haswell", features=(("vmx", rules.Policy.REQUIRE),))
    assert built == parsed and hash(built) == hash(parsed)
