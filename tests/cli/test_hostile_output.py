"""Issue 10, output side: -o targets of every file type, empty paths, and
hostile names (control, bidi, huge, not UTF-8) in every output, run as a
user runs the CLI."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import networkx as nx
import pytest

from cpucompat.planner.fleet import Fleet
from cpucompat.inputs.parse import parse_cpus
from cpucompat.planner.lattice import graph_dot, graph_graphml, graph_svg
from cpucompat.planner.report import html_report

HASWELL = "<cpu><arch>x86_64</arch><model>Haswell</model><vendor>Intel</vendor></cpu>"
NEHALEM = "<cpu><arch>x86_64</arch><model>Nehalem</model><vendor>Intel</vendor></cpu>"
HOSTILE = "evil\u202e\x1b[31m\x07"  # bidi override, ANSI colour, bell
SHOWN = "evil\\u202e\\x1b[31m\\x07"  # as text output shows it


def run(*args: str, **options) -> subprocess.CompletedProcess:
    """`cpucompat ARGS` as a user runs it (the installed package, from elsewhere than the checkout)."""
    if "stdout" not in options:
        options["capture_output"] = True
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], timeout=120, cwd=tempfile.gettempdir(), **options)


def one_error_line(proc: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit 2, exactly one line on stderr holding each of `expected`, no traceback."""
    stderr = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, (proc.returncode, stderr)
    assert "Traceback" not in stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    for text in expected:
        assert text in stderr, (text, stderr)
    return stderr


def device(path: Path, major: int, minor: int) -> Path:
    """A character device node of our own (a /dev/null or /dev/full twin),
    so a regression replaces it instead of the machine's."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here ({exc}); /dev/null itself is tested below")
    return path


@contextlib.contextmanager
def kept_device(path: str):
    """Assert `path` is the same character device after the block; as root,
    put it back if a regression replaced it (so one failure breaks no more)."""
    before = os.stat(path)
    try:
        yield
    finally:
        after = os.lstat(path)
        if not stat.S_ISCHR(after.st_mode) and os.geteuid() == 0:
            os.unlink(path)
            os.mknod(path, before.st_mode, before.st_rdev)
        assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev, f"{path} was replaced"


# -- row 1: -o targets of every file type -----------------------------------------

@pytest.mark.parametrize("command", [["report", "sample"], ["graph", "sample", "--format", "svg"],
                                     ["graph", "sample", "--format", "graphml"]])
def test_a_null_device_is_written_to_and_stays_a_device(tmp_path, command):
    null = device(tmp_path / "null", 1, 3)
    proc = run(*command, "-o", str(null), text=True)
    assert proc.returncode == 0, proc.stderr
    status = os.lstat(null)
    assert stat.S_ISCHR(status.st_mode) and status.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary left beside it


@pytest.mark.parametrize("command", [["report", "sample"], ["graph", "sample"]])
def test_a_full_device_fails_with_one_line_and_stays_a_device(tmp_path, command):
    full = device(tmp_path / "full", 1, 7)
    one_error_line(run(*command, "-o", str(full), text=True), str(full), "No space left on device")
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_dev_null_and_dev_full_themselves_are_never_replaced():
    with kept_device("/dev/null"):
        proc = run("report", "sample", "-o", "/dev/null", text=True)
        assert proc.returncode == 0 and proc.stdout.startswith("wrote report"), proc.stderr
    with kept_device("/dev/full"):
        one_error_line(run("graph", "sample", "-o", "/dev/full", text=True),
                       "/dev/full: cannot write: No space left on device")


def test_a_link_to_a_device_stays_a_link_and_the_device_a_device(tmp_path):
    null = device(tmp_path / "null", 1, 3)
    link = tmp_path / "report.html"
    link.symlink_to(null)
    assert run("report", "sample", "-o", str(link)).returncode == 0
    assert link.is_symlink() and stat.S_ISCHR(os.lstat(null).st_mode)


def test_a_fifo_with_a_reader_gets_the_whole_report(tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    # the read end is open before the command starts; a write end of our
    # own keeps the reader from seeing end-of-file until the command is done
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    keeper = os.open(fifo, os.O_WRONLY)
    os.set_blocking(reader, True)
    received = bytearray()

    def read_all() -> None:
        while chunk := os.read(reader, 65536):
            received.extend(chunk)

    thread = threading.Thread(target=read_all, daemon=True)
    thread.start()
    try:
        proc = run("report", "sample", "-o", str(fifo), text=True)
    finally:
        os.close(keeper)
        thread.join(60)
        os.close(reader)
    assert proc.returncode == 0, proc.stderr
    assert received.startswith(b"<!DOCTYPE html>") and received.endswith(b"</body></html>\n")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_fifo_without_a_reader_is_one_line_not_a_hang(tmp_path):
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo)
    one_error_line(run("report", "sample", "-o", str(fifo), text=True), str(fifo), "no reader")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_directory_and_a_socket_are_refused(tmp_path):
    one_error_line(run("graph", "sample", "-o", str(tmp_path), text=True), str(tmp_path), "a directory")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "sock"))
        one_error_line(run("report", "sample", "-o", str(tmp_path / "sock"), text=True), "a socket")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sock"]


@pytest.mark.parametrize("target", ["-", "/dev/stdout"])
def test_standard_output_holds_the_output_alone(target):
    proc = run("graph", "sample", "--format", "dot", "-o", target, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("digraph migration {") and proc.stdout.endswith("}\n")
    proc = run("report", "sample", "--json", "-o", target, text=True)
    assert proc.stdout.startswith("<!DOCTYPE html>") and proc.stdout.endswith("</body></html>\n")


def test_dev_stdout_appended_to_a_file_appends_instead_of_replacing_it(tmp_path):
    log = tmp_path / "log"
    log.write_text("kept\n")
    with open(log, "a") as stdout:
        proc = run("graph", "sample", "-o", "/dev/stdout", stdout=stdout, stderr=subprocess.PIPE)
    assert proc.returncode == 0
    assert log.read_text().startswith("kept\ndigraph migration {")


# -- row 2: an empty path is a usage error ----------------------------------------

@pytest.mark.parametrize("argv", [
    ["compare", "--host", "", "GUEST"], ["compare", ""], ["expand", ""], ["baseline", ""], ["decode", ""],
    ["decode", "--guest", "--qemu-models", "", "GUEST"], ["models", "--cpu-map", ""],
    ["levels", ""], ["classes", "sample", ""], ["common", "", "host"], ["domain", "sample", ""],
    ["stranded", "sample", ""], ["whatif", "sample", "--add", ""], ["graph", "sample", "-o", ""],
    ["report", "sample", "-o", ""], ["report", "sample", "--guests", "", "-o", "OUT"],
])
def test_an_empty_path_is_a_usage_error(argv, tmp_path):
    guest = tmp_path / "guest.xml"
    guest.write_text(HASWELL)
    argv = [str(guest) if a == "GUEST" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    proc = run(*argv, text=True)
    one_error_line(proc, "cpucompat: error: argument ", "an empty path names no file")
    assert proc.stdout == "" and not (tmp_path / "out").exists()


# -- row 3: control and bidi characters ---------------------------------------------

@pytest.fixture()
def hostile_inventory(tmp_path):
    """A directory inventory: a host named with control and bidi characters,
    one whose file name is not UTF-8, an unreadable one named likewise, a
    plain one."""
    inventory = tmp_path / "hosts"
    inventory.mkdir()
    (inventory / f"{HOSTILE}.xml").write_text(HASWELL)
    (inventory / "plain.xml").write_text(NEHALEM)
    (inventory / f"bad{HOSTILE}.xml").write_text("not a CPU")
    with open(os.path.join(os.fsencode(inventory), b"h\xff.xml"), "w") as handle:
        handle.write(HASWELL)
    return inventory


RAW = ("\u202e", "\x1b", "\x07", "\udcff")


def test_text_output_and_stderr_escape_control_bidi_and_undecodable_names(hostile_inventory):
    proc = run("classes", str(hostile_inventory))
    assert proc.returncode == 0, proc.stderr
    stdout, stderr = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")  # both valid UTF-8
    for raw in RAW:
        assert raw not in stdout and raw not in stderr
    assert SHOWN in stdout and "h\\udcff" in stdout
    assert f"  bad{SHOWN}: " in stderr  # the unreadable host, listed with its reason


def test_json_output_keeps_names_exact(hostile_inventory):
    proc = run("classes", "--json", str(hostile_inventory))
    assert proc.returncode == 0, proc.stderr
    proc.stdout.decode("ascii")  # every character escaped, a lone surrogate too
    value = json.loads(proc.stdout)
    hosts = {h for c in value["classes"] for h in c["hosts"]}
    assert {HOSTILE, "h\udcff", "plain"} <= hosts
    assert f"bad{HOSTILE}" in value["unreadable"]


def _report_hosts(page: str) -> set[str]:
    """The host names the report's script shows: those of its JSON block."""
    block = page.split("<script type='application/json' id='fleet-data'>")[1].split("</script>")[0]
    return {h for c in json.loads(block)["classes"] for h in c["hosts"]}


def test_the_report_escapes_and_isolates_every_name(hostile_inventory, tmp_path):
    out = tmp_path / "report.html"
    proc = run("report", str(hostile_inventory), "-o", str(out), text=True)
    assert proc.returncode == 0, proc.stderr
    page = out.read_bytes().decode("utf-8")
    for raw in RAW:
        assert raw not in page
    hosts = _report_hosts(page)  # the page lists hosts from its JSON block, as text (never as markup)
    assert SHOWN in hosts and "h\\udcff" in hosts
    assert f"<td><bdi>bad{SHOWN}</bdi></td>" in page  # among the unreadable hosts


def test_model_and_feature_names_of_a_map_are_escaped_in_text_and_exact_in_json(tmp_path):
    model, feature = "Evil\u202eModel\u2028x", "f" * 300
    (tmp_path / "cpu_map.xml").write_text(f"""<cpus><arch name='x86'><vendor name='Intel' string='GenuineIntel'/>
    <feature name='{feature}'><cpuid function='0x00000001' edx='0x00000001'/></feature>
    <model name='{model}'><vendor name='Intel'/><feature name='{feature}'/></model></arch></cpus>""")
    cpu_map = str(tmp_path / "cpu_map.xml")
    for argv in (["models"], ["show", model, "--arch", "x86"]):
        proc = run(*argv, "--cpu-map", cpu_map, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "\u202e" not in proc.stdout and "\u2028" not in proc.stdout
        assert "Evil\\u202eModel\\u2028x" in proc.stdout
    assert "f" * 199 + "…" in proc.stdout and feature not in proc.stdout
    proc = run("show", model, "--arch", "x86", "--cpu-map", cpu_map, "--json", text=True)
    value = json.loads(proc.stdout)
    assert value["name"] == model and value["features"] == [feature]


# -- row 4: huge names are cut; errors are one line -----------------------------------

def test_a_huge_host_name_is_cut_in_text_and_report_and_exact_in_json(tmp_path):
    huge = "H" * 10_000_000
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps({huge: HASWELL, "small": NEHALEM}))
    proc = run("classes", str(inventory), text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) < 2000 and "H" * 199 + "…" in proc.stdout and "H" * 200 not in proc.stdout
    out = tmp_path / "report.html"
    assert run("report", str(inventory), "-o", str(out)).returncode == 0
    assert out.stat().st_size < 20_000 and "H" * 199 + "…" in _report_hosts(out.read_text())
    proc = run("classes", "--json", str(inventory), text=True)
    assert huge in {h for c in json.loads(proc.stdout)["classes"] for h in c["hosts"]}


def test_a_huge_reason_is_cut_on_stderr_and_in_the_report(tmp_path):
    inventory = tmp_path / "hosts"
    inventory.mkdir()
    (inventory / "ok.xml").write_text(HASWELL)
    (inventory / "big.xml").write_text(f"<cpu><arch>x86_64</arch><model>{'M' * 10_000_000}</model></cpu>")
    out = tmp_path / "report.html"
    proc = run("report", str(inventory), "-o", str(out), text=True)
    assert proc.returncode == 0, proc.stderr
    listed = [line for line in proc.stderr.splitlines() if line.startswith("  big: ")]
    assert len(listed) == 1 and len(listed[0]) < 1100 and "…" in listed[0]  # the name is cut, in the reason
    assert out.stat().st_size < 20_000 and "M" * 999 not in out.read_text()


def test_a_huge_model_name_in_an_error_is_one_clipped_line_naming_the_file(tmp_path):
    path = tmp_path / "big.xml"
    path.write_text(f"<cpu><arch>x86_64</arch><model>{'M' * 10_000_000}</model></cpu>")
    stderr = one_error_line(run("expand", str(path), text=True), f"cpucompat expand: error: {path}")
    assert len(stderr) <= 1100 and "…" in stderr  # the name is cut, in the message


def test_an_error_naming_a_path_with_a_newline_is_one_line(tmp_path):
    path = tmp_path / "two\nlines\x1b[2J.xml"
    stderr = one_error_line(run("expand", str(path), text=True), "two\\x0alines\\x1b[2J.xml", "cannot read")
    assert "\x1b" not in stderr


def test_a_huge_or_multi_line_usage_error_is_one_line():
    one_error_line(run("graph", "sample", "--format", "x\n" * 50_000, "-o", "-", text=True),
                   "cpucompat: error: argument --format: invalid choice")


# -- row 5: names that are not UTF-8 (lone surrogates) in every output format ----------

@pytest.mark.parametrize("fmt", ["graphml", "dot", "svg"])
def test_a_file_name_that_is_not_utf8_survives_every_graph_format(hostile_inventory, tmp_path, fmt):
    out = tmp_path / f"lattice.{fmt}"
    proc = run("graph", str(hostile_inventory), "--format", fmt, "-o", str(out), text=True)
    assert proc.returncode == 0, proc.stderr
    text = out.read_bytes().decode("utf-8")
    for raw in RAW:
        assert raw not in text
    if fmt == "graphml":
        names = {data["host_names"] for _, data in nx.read_graphml(out).nodes(data=True)}
        assert any("h\\udcff" in n and SHOWN in n for n in names), names


def test_every_output_encodes_any_str_even_a_lone_high_surrogate():
    cpu = parse_cpus(HASWELL)[0]
    fleet = Fleet({"h\ud800": cpu, f"x{HOSTILE}\udcff": cpu, "plain": parse_cpus(NEHALEM)[0]},
                  failures={"u\ud800": "reason \ud800\x1b"})
    for text in (html_report(fleet, fleet.domains()), graph_graphml(fleet), graph_dot(fleet), graph_svg(fleet)):
        text.encode("utf-8")  # no UnicodeEncodeError
        assert not any(raw in text for raw in ("\ud800", "\udcff", "\x1b", "\u202e"))
    assert "h\\ud800" in _report_hosts(html_report(fleet, fleet.domains()))


def test_a_name_cannot_end_a_dot_label():
    from cpucompat.planner.lattice import _dot  # the one place DOT strings are escaped

    assert _dot('x"]; n9 [image="/etc/passwd" \\') == 'x\\"]; n9 [image=\\"/etc/passwd\\" \\\\'
