"""A hostile cpu_map (``--cpu-map``, ``[cpucompat] cpu_map``) is refused in
one line, without blocking and in bounded memory, as a user runs it.

Each case runs the installed ``cpucompat`` command; the memory cases run
it under RLIMIT_AS of 1 GiB, where a quadratic table or an endless read
would end in MemoryError ("internal error") instead of a clean refusal.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat import InvalidConfig, InvalidCpuMap
from cpucompat.engine import cpumap as cpumap_module
from cpucompat.engine.cpumap import MAX_FEATURES, MAX_FILE_BYTES, MAX_FILES, MAX_MAP_BYTES, MAX_MODELS

GIB = 1024 ** 3
FUZZ = settings(max_examples=int(os.environ.get("CPUCOMPAT_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=list(HealthCheck))
_SCRIPT = Path(sys.executable).with_name("cpucompat")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "cpucompat"]


def cpucompat_cli(*args: str, memory: int | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """`cpucompat ARGS` as a user runs it, optionally under RLIMIT_AS `memory`."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=tempfile.gettempdir(), preexec_fn=limit if memory else None)


def refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The one line a refusal prints, after checking it is one, exit 2, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[:500], proc.stderr[:2000])
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[:2000]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr[:2000]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def feature(i: int) -> str:
    return f"<feature name='f{i}'><cpuid eax_in='0x{i // 32:08x}' ecx='0x{1 << (i % 32):08x}'/></feature>"


def legacy_map(path: Path, features: int, models: int = 1) -> Path:
    """A legacy single-file map: `features` features, `models` models, each
    inheriting the one before and adding two features (the last has them all)."""
    parts = ["<cpus><arch name='x86'><vendor name='Intel' string='GenuineIntel'/>"]
    parts += [feature(i) for i in range(features)]
    parts.append(f"<model name='M0'><vendor name='Intel'/><feature name='f0'/><feature name='f{1 % features}'/>"
                 "</model>")
    for m in range(1, models):
        parts.append(f"<model name='M{m}'><model name='M{m - 1}'/>"
                     + "".join(f"<feature name='f{i % features}'/>" for i in (2 * m, 2 * m + 1)) + "</model>")
    parts.append("</arch></cpus>")
    path.write_text("\n".join(parts))
    return path


def split_map(directory: Path, files: dict[str, str], includes: list[str] | None = None) -> Path:
    """A split-layout map in `directory`: an index.xml including `includes`
    (default: every one of `files`), and those files."""
    directory.mkdir(exist_ok=True)
    for name, body in files.items():
        (directory / name).write_text(body)
    names = includes if includes is not None else list(files)
    (directory / "index.xml").write_text(
        "<cpus><arch name='x86'>" + "".join(f"<include filename='{n}'/>" for n in names) + "</arch></cpus>")
    return directory


def copy_of_embedded_map(directory: Path) -> Path:
    shutil.copytree(cpumap_module.default_cpu_map_path(), directory,
                    ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    return directory


# -- only regular files, each read bounded ---------------------------------------------------------

def test_a_device_as_cpu_map_is_refused_before_a_byte_is_read():
    line = refused(cpucompat_cli("models", "--cpu-map", "/dev/zero", memory=GIB), "/dev/zero", "character device")
    assert line.startswith("cpucompat models: error: ")


def test_an_include_that_is_a_symlink_to_a_device_is_refused(tmp_path):
    directory = copy_of_embedded_map(tmp_path / "map")
    (directory / "x86_features.xml").unlink()
    (directory / "x86_features.xml").symlink_to("/dev/zero")
    refused(cpucompat_cli("models", "--cpu-map", str(directory), memory=GIB),
            str(directory / "x86_features.xml"), "character device")


@pytest.mark.parametrize("fifo", ["index.xml", "x86_features.xml", "SOURCE"])
def test_a_fifo_in_the_map_directory_never_blocks(tmp_path, fifo):
    directory = copy_of_embedded_map(tmp_path / "map")
    (directory / fifo).unlink()
    os.mkfifo(directory / fifo)
    refused(cpucompat_cli("models", "--cpu-map", str(directory), timeout=60), str(directory / fifo), "a FIFO")


def test_a_fifo_as_cpu_map_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "map.xml")
    refused(cpucompat_cli("models", "--cpu-map", str(tmp_path / "map.xml"), timeout=60), "map.xml", "a FIFO")


def test_an_empty_cpu_map_path_is_refused_not_read_as_the_current_directory():
    line = refused(cpucompat_cli("models", "--cpu-map", ""), "empty")
    assert "cpu-map" in line or "cpu_map" in line
    with pytest.raises(InvalidCpuMap, match="cpu_map path is empty"):
        cpucompat.load_cpu_map("")  # the library too: Path("") would be the current directory


def test_a_file_of_the_map_past_its_size_limit_is_refused(tmp_path):
    big = tmp_path / "cpu_map.xml"
    big.write_text("<cpus>" + " " * MAX_FILE_BYTES + "</cpus>")
    refused(cpucompat_cli("models", "--cpu-map", str(big), memory=GIB), str(big), f"larger than {MAX_FILE_BYTES}")


def test_a_map_whose_files_together_pass_the_limit_is_refused(tmp_path):
    padding = "<cpus>" + " " * (MAX_FILE_BYTES - 100) + "</cpus>"
    count = MAX_MAP_BYTES // MAX_FILE_BYTES + 1
    directory = split_map(tmp_path / "map", {f"x86_pad{n}.xml": padding for n in range(count)})
    refused(cpucompat_cli("models", "--cpu-map", str(directory), memory=GIB),
            f"x86_pad{count - 1}.xml", f"more than {MAX_MAP_BYTES} bytes together")


def test_a_map_including_more_files_than_the_limit_is_refused(tmp_path):
    directory = split_map(tmp_path / "map", {"x86_empty.xml": "<cpus/>"}, ["x86_empty.xml"] * MAX_FILES)
    refused(cpucompat_cli("models", "--cpu-map", str(directory)), "x86_empty.xml", f"more than {MAX_FILES} files")


def test_a_large_source_file_is_refused(tmp_path):
    directory = copy_of_embedded_map(tmp_path / "map")
    (directory / "SOURCE").write_text("libvirt 9.0.0\n" + "x" * (cpumap_module.MAX_SOURCE_BYTES + 1))
    refused(cpucompat_cli("models", "--cpu-map", str(directory)), str(directory / "SOURCE"), "larger than")


# -- includes stay in the map's directory ----------------------------------------------------------

@pytest.mark.parametrize("filename", ["../../etc/shadow", "/etc/shadow", "..", ".hidden.xml", "sub/x86_A.xml",
                                      "x86 A.xml"])
def test_an_include_leaving_the_map_directory_is_refused(tmp_path, filename):
    directory = split_map(tmp_path / "map", {}, [filename])
    refused(cpucompat_cli("models", "--cpu-map", str(directory)), str(directory / "index.xml"),
            f"<include filename='{filename}'> is not the plain name of a file in the map's directory")


# -- bounded, linear memory: limits on features and models ---------------------------------------

def test_a_100k_feature_map_is_refused_cleanly_under_1_gib(tmp_path):
    """As one file it is past the size limit; split in files under it, past
    the feature limit; neither builds a table."""
    single = legacy_map(tmp_path / "cpu_map.xml", 100_000)
    refused(cpucompat_cli("models", "--cpu-map", str(single), memory=GIB), str(single), "larger than")
    thirds = {f"x86_features{n}.xml": "<cpus>" + "".join(feature(i) for i in range(n, 100_000, 3)) + "</cpus>"
              for n in range(3)}
    assert all(len(body) < MAX_FILE_BYTES for body in thirds.values())
    directory = split_map(tmp_path / "split", thirds)
    refused(cpucompat_cli("models", "--cpu-map", str(directory), memory=GIB),
            "x86_features", f"has more than {MAX_FEATURES} features")


def test_a_20k_feature_map_is_refused_under_1_gib(tmp_path):
    path = legacy_map(tmp_path / "cpu_map.xml", 20_000)
    refused(cpucompat_cli("models", "--cpu-map", str(path), memory=GIB), str(path),
            f"has more than {MAX_FEATURES} features")


def test_one_feature_or_model_past_the_limit_is_refused(tmp_path):
    refused(cpucompat_cli("models", "--cpu-map", str(legacy_map(tmp_path / "f.xml", MAX_FEATURES + 1))),
            f"has more than {MAX_FEATURES} features")
    refused(cpucompat_cli("models", "--cpu-map", str(legacy_map(tmp_path / "m.xml", 8, MAX_MODELS + 1))),
            f"has more than {MAX_MODELS} models")


def test_a_map_at_the_limits_loads_under_1_gib(tmp_path):
    path = legacy_map(tmp_path / "cpu_map.xml", MAX_FEATURES, MAX_MODELS)
    proc = cpucompat_cli("models", "--json", "--cpu-map", str(path), memory=GIB)
    assert proc.returncode == 0, proc.stderr[:2000]
    rows = json.loads(proc.stdout)
    assert len(rows) == MAX_MODELS
    assert rows[-1]["name"] == f"M{MAX_MODELS - 1}" and rows[-1]["features"] == MAX_FEATURES


def test_a_loaded_map_takes_memory_linear_in_its_feature_count(tmp_path):
    """Four times the features, about four times the memory (the old sorted
    name table grew with the square: seven times here, 1.08 GB at 20k)."""
    def retained(count: int) -> int:
        path = legacy_map(tmp_path / f"map{count}.xml", count)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            x86 = cpucompat.load_cpu_map(path).x86  # kept alive by the cache
            x86.names(x86.all_features), x86.sorted_names(x86.all_features)  # its name tables, built on first use
            return tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()

    retained(8)  # what the first load imports (the compiled-map cache's modules) is no map's memory
    assert retained(4 * 1024) < 5 * retained(1024)


@pytest.mark.parametrize("attribute, value, message", [
    ("stepping", "0-99999999999", "stepping '99999999999' is not a number from 0 to 0xf"),
    ("stepping", "16", "stepping '16' is not a number from 0 to 0xf"),
    ("stepping", "1,7-3", "stepping range '7-3' falls"),
    ("stepping", "1-", "stepping '' is not a number"),
    ("family", "0x" + "f" * 100_000, "signature family '0xfffff"),
    ("model", "9" * 5000, "signature model '99999"),
])
def test_numbers_are_libvirts_unsigned_ints_and_steppings_0_to_15(tmp_path, attribute, value, message):
    """A stepping range is expanded into a set: an unbounded one took all memory."""
    signature = {"family": "6", "model": "85", "stepping": "0-4"} | {attribute: value}
    path = tmp_path / "cpu_map.xml"
    path.write_text("<cpus><arch name='x86'><vendor name='Intel' string='GenuineIntel'/>" + feature(0)
                    + "<model name='M'><signature " + " ".join(f"{k}='{v}'" for k, v in signature.items())
                    + "/><vendor name='Intel'/><feature name='f0'/></model></arch></cpus>")
    line = refused(cpucompat_cli("models", "--cpu-map", str(path), memory=GIB), str(path), message)
    assert len(line) < 400


def test_more_arches_than_the_limit_or_one_twice_are_refused(tmp_path):
    path = tmp_path / "cpu_map.xml"
    path.write_text("<cpus>" + "".join(f"<arch name='a{n}'/>" for n in range(cpumap_module.MAX_ARCHES + 1))
                    + "</cpus>")
    refused(cpucompat_cli("models", "--cpu-map", str(path)), f"more than {cpumap_module.MAX_ARCHES} <arch>")
    path.write_text("<cpus><arch name='ppc64'/><arch name='ppc64'/></cpus>")
    refused(cpucompat_cli("models", "--cpu-map", str(path)), "<arch name='ppc64'> given twice")


# -- one line naming the file and the place, for every XML input ----------------------------------

def nul_document(path: Path) -> Path:
    path.write_bytes(b"<cpu>\n  <model>Skylake\x00</model>\n</cpu>\n")
    return path


def huge_attribute_document(path: Path) -> Path:
    path.write_text("<cpu>\n  <model fallback='" + "a" * 15_000_000 + "'>Skylake-Client</model>\n</cpu>\n")
    return path


@pytest.mark.parametrize("make, problem", [(nul_document, "at line 2, column 17 (byte 22): a NUL byte"),
                                           (huge_attribute_document, "at line 2, column 1000")],
                         ids=["nul-byte", "15MB-attribute"])
@pytest.mark.parametrize("role", ["guest", "capabilities", "cpu_map"])
def test_broken_xml_is_one_line_naming_the_file_and_the_place(tmp_path, make, problem, role):
    bad = make(tmp_path / ("index.xml" if role == "cpu_map" else f"{role}.xml"))
    if role == "guest":
        argv = ["expand", str(bad)]
    elif role == "capabilities":
        guest = tmp_path / "ok.xml"
        guest.write_text("<cpu><model>Nehalem</model></cpu>")
        argv = ["compare", "--host", str(bad), str(guest)]
    else:
        argv = ["models", "--cpu-map", str(tmp_path)]
    if role == "cpu_map" and make is huge_attribute_document:
        problem = f"larger than {MAX_FILE_BYTES} bytes"  # a map file is refused by its size before parsing
    line = refused(cpucompat_cli(*argv, memory=GIB), f"{bad}: ", problem)
    assert len(line) < 400


# -- names in messages are clipped ------------------------------------------------------------------

def test_a_10_mb_model_name_is_cut_in_the_unknown_model_error(tmp_path):
    guest = tmp_path / "guest.xml"
    guest.write_text("<cpu><model>\u202e" + "Q" * 9_000_000 + "</model></cpu>")
    line = refused(cpucompat_cli("expand", "--cpu-map", "9.0.0", str(guest)), "unknown CPU model '\\u202eQQQ", "…")
    assert len(line) < 500 and "\u202e" not in line


def test_unknown_names_are_clipped_and_escaped_and_get_no_suggestion_when_huge(x86):
    with pytest.raises(cpucompat.UnknownModel) as info:
        x86.model("Skylake-Client" + "x" * 10_000_000)
    assert len(str(info.value)) < 400 and "did you mean" not in str(info.value)
    with pytest.raises(cpucompat.UnknownFeature) as info:
        x86.feature("avx\u202e\x1b[31m")
    assert "\\u202e\\x1b[31m" in str(info.value) and "\x1b" not in str(info.value)


def test_names_from_the_map_are_clipped_in_its_errors(tmp_path):
    path = tmp_path / "cpu_map.xml"
    name = "N" * 1_000_000
    path.write_text(f"<cpus><arch name='x86'><model name='{name}'><model name='{name}x'/></model></arch></cpus>")
    with pytest.raises(InvalidCpuMap, match="ancestor model NNN") as info:
        cpucompat.load_cpu_map(path)
    assert len(str(info.value)) < 700


# -- the cache: every file of the map is its key --------------------------------------------------

def test_a_change_to_an_included_file_reloads_the_map(tmp_path):
    directory = copy_of_embedded_map(tmp_path / "map")
    first = cpucompat.load_cpu_map(directory)
    assert cpucompat.load_cpu_map(directory / "index.xml") is first
    model = directory / "x86_Nehalem.xml"
    model.write_text(model.read_text().replace("<feature name='popcnt'/>", ""))
    second = cpucompat.load_cpu_map(directory)
    assert second is not first
    assert "popcnt" in first.x86.names(first.x86.model("Nehalem").features)
    assert "popcnt" not in second.x86.names(second.x86.model("Nehalem").features)
    assert cpucompat.load_cpu_map(directory) is second


def test_a_map_whose_file_turned_into_a_fifo_is_refused_not_served_from_the_cache(tmp_path):
    directory = copy_of_embedded_map(tmp_path / "map")
    cpucompat.load_cpu_map(directory)
    (directory / "x86_Nehalem.xml").unlink()
    os.mkfifo(directory / "x86_Nehalem.xml")
    with pytest.raises(InvalidCpuMap, match="a FIFO"):
        cpucompat.load_cpu_map(directory)


# -- nova.conf: [cpucompat] cpu_map = /dev/zero ----------------------------------------------------

def nova_conf(tmp_path: Path, cpu_map: str):
    from oslo_config import cfg

    from cpucompat.nova import config

    conf_file = tmp_path / "nova.conf"
    conf_file.write_text(f"[cpucompat]\ncpu_mode = host-model\ncpu_map = {cpu_map}\n")
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf(["--config-file", str(conf_file)], project="nova")
    return conf


@pytest.mark.parametrize("cpu_map, problem", [("/dev/zero", "character device"), ("FIFO", "a FIFO")])
def test_config_refuses_a_device_or_fifo_as_cpu_map_naming_option_and_path(tmp_path, cpu_map, problem):
    from cpucompat.nova import config

    if cpu_map == "FIFO":
        cpu_map = str(tmp_path / "fifo")
        os.mkfifo(cpu_map)
    with pytest.raises(InvalidConfig) as info:
        config.load_policy(nova_conf(tmp_path, cpu_map))
    message = str(info.value)
    assert "[cpucompat] cpu_map" in message and cpu_map in message and problem in message
    assert "\n" not in message


def test_the_nova_filter_refuses_dev_zero_as_cpu_map_at_start_under_1_gib(tmp_path):
    """The scheduler builds the filter at start: with this nova.conf it gets
    one InvalidConfig naming the option and the path (it ran out of memory)."""
    pytest.importorskip("nova.scheduler.filters", reason="Nova is not installed: pip install '.[nova]'")
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text("[cpucompat]\ncpu_mode = host-model\ncpu_map = /dev/zero\n")
    script = ("import sys\n"
              "from oslo_config import cfg\n"
              "from cpucompat.filters import CpuCompatFilter\n"
              "conf = cfg.ConfigOpts()\n"
              "conf(['--config-file', sys.argv[1]], project='nova')\n"
              "try:\n"
              "    CpuCompatFilter(conf)\n"
              "except Exception as exc:\n"
              "    print(type(exc).__name__, exc)\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))

    proc = subprocess.run([sys.executable, "-c", script, str(conf_file)], capture_output=True, text=True,
                          timeout=120, cwd=tempfile.gettempdir(), preexec_fn=limit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("InvalidConfig [cpucompat] cpu_map: "), proc.stdout
    assert "/dev/zero" in proc.stdout and "character device" in proc.stdout


# -- property: any map directory loads or is refused in one line ------------------------------------

# the readable kinds twice: most maps get far enough to read numbers
FILE_KINDS = ("features", "model") * 2 + ("garbage", "fifo", "dev-zero", "directory", "missing", "loop", "outside")
PLAIN_NAMES = st.sampled_from(["x86_a.xml", "x86_b.xml", "x86_c.xml"])
INCLUDE_NAMES = st.one_of(PLAIN_NAMES, PLAIN_NAMES, PLAIN_NAMES,
                          st.sampled_from(["../x86_a.xml", "/etc/hostname", ".x86_a.xml", "", "x86_a.xml/"]),
                          st.text(max_size=12).map(lambda t: t.replace("'", "").replace("<", "").replace("&", "")))
NUMBERS = st.one_of(st.sampled_from(["0x1", "1", "-1", "0x100000000", "0-4", "7-3", "16", "0-99999999999", "0x",
                                     "9" * 5000, "0x" + "f" * 3000, "", "abc"]),
                    st.integers(-2, 2 ** 33).map(str))


@st.composite
def hostile_map(draw) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Include names for an index.xml, and what each of x86_a/b/c.xml is:
    (kind, text) with features or a model built from hostile numbers."""
    includes = draw(st.lists(INCLUDE_NAMES, min_size=1, max_size=5))
    files = {}
    for name in ("x86_a.xml", "x86_b.xml", "x86_c.xml"):
        kind = draw(st.sampled_from(FILE_KINDS))
        if kind == "features":
            text = "<cpus>" + "".join(
                f"<feature name='f{draw(st.integers(0, 3))}'><cpuid eax_in='{draw(NUMBERS)}' "
                f"ecx='{draw(NUMBERS)}'/></feature>" for _ in range(draw(st.integers(0, 4)))) + "</cpus>"
        elif kind == "model":
            text = (f"<cpus><vendor name='Intel' string='GenuineIntel'/><model name='M{draw(st.integers(0, 2))}'>"
                    + (f"<model name='M{draw(st.integers(0, 2))}'/>" if draw(st.booleans()) else "")
                    + f"<signature family='{draw(NUMBERS)}' model='{draw(NUMBERS)}' stepping='{draw(NUMBERS)}'/>"
                    + f"<vendor name='Intel'/><feature name='f{draw(st.integers(0, 3))}'/></model></cpus>")
        else:
            text = draw(st.text(max_size=40)) if kind == "garbage" else ""
        files[name] = (kind, text)
    return includes, files


def build_hostile_map(directory: Path, includes: list[str], files: dict[str, tuple[str, str]]) -> None:
    directory.mkdir()
    for name, (kind, text) in files.items():
        path = directory / name
        if kind in ("features", "model", "garbage"):
            path.write_text(text, errors="surrogatepass")
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "dev-zero":
            path.symlink_to("/dev/zero")
        elif kind == "directory":
            path.mkdir()
        elif kind == "loop":
            path.symlink_to(path)
        elif kind == "outside":
            path.symlink_to(directory.parent / "outside.xml")
    (directory.parent / "outside.xml").write_text("<cpus/>")
    (directory / "index.xml").write_text(
        "<cpus><arch name='x86'>" + "".join(f"<include filename='{n}'/>" for n in includes) + "</arch></cpus>",
        errors="surrogatepass")


@FUZZ
@given(hostile_map())
def test_a_hostile_map_directory_loads_or_is_refused_in_one_line(case):
    """Whatever the include names, file types and numbers: a CpuMap, or one
    InvalidCpuMap line of bounded length naming a file; never another
    exception, never a blocked open (SIGALRM would end it)."""
    includes, files = case
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "map"
        build_hostile_map(directory, includes, files)
        previous = signal.signal(signal.SIGALRM, _blocked)
        signal.alarm(20)
        try:
            loaded = cpucompat.load_cpu_map(directory)
        except InvalidCpuMap as exc:
            message = str(exc)
            assert "\n" not in message and len(message) < 1000 + len(scratch), message
            assert scratch in message or "cpu_map" in message, message
        else:
            assert isinstance(loaded, cpucompat.CpuMap)
            for feature in loaded.x86.features:
                assert all(0 <= d.leaf <= 0xFFFF_FFFF and 0 < d.mask <= 0xFFFF_FFFF for d in feature.data)
            for model in loaded.x86.models:
                assert all(s.steppings is None or s.steppings <= set(range(16)) for s in model.signatures)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


def _blocked(signum, frame):
    raise AssertionError("loading the map blocked")
