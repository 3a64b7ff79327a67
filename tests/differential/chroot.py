"""A Debian chroot holding a given libvirt release, and its oracle process.

Host side of the differential runs against libvirt releases this machine
does not have (11.3.0 in Debian 13 "trixie", 12.8.0 in Debian testing as of
November 2026).  Building a chroot takes about 5 minutes and 650 MB, once:

    python3 tests/differential/chroot.py build /srv/chroots/trixie --suite trixie
    python3 tests/differential/chroot.py build /srv/chroots/testing --suite testing
    python3 tests/differential/chroot.py selftest /srv/chroots/trixie

``build`` is repeatable: each step is skipped when already done (debootstrap
when the chroot has a python3, the package install when ``import libvirt``
works there).  It needs root, ``debootstrap`` and a Debian mirror
(``--mirror``, default ``$CPUCOMPAT_DEBIAN_MIRROR`` or deb.debian.org).

While an `Oracle` runs, ``proc``, ``sys`` and ``dev`` are mounted in the
chroot (only those this process mounted are unmounted afterwards), and
``oracle.py`` (beside this file) runs there with the chroot's own python3
and python3-libvirt, answering JSON cases line by line.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Self

HERE = Path(__file__).resolve().parent
ORACLE = HERE / "oracle.py"
ORACLE_IN_CHROOT = "/opt/cpucompat-oracle/oracle.py"
PACKAGES = ["libvirt-daemon", "libvirt-daemon-driver-qemu", "qemu-system-x86", "python3-libvirt"]
MIRROR = os.environ.get("CPUCOMPAT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# debootstrap has no script named "testing" everywhere; sid's script builds any unstable-like suite
SCRIPTS = {"testing": "/usr/share/debootstrap/scripts/sid", "unstable": "/usr/share/debootstrap/scripts/sid"}


class ChrootError(RuntimeError):
    pass


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    print("+", " ".join(argv), file=sys.stderr, flush=True)
    return subprocess.run(argv, check=True, **kwargs)  # type: ignore[call-overload]


def _has_libvirt(root: Path) -> bool:
    if not (root / "usr/bin/python3").exists():
        return False
    probe = subprocess.run(["chroot", str(root), "python3", "-c", "import libvirt"],
                           capture_output=True, check=False)
    return probe.returncode == 0


class Mounts:
    """proc, sys and dev mounted in a chroot for as long as the context lasts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounted: list[Path] = []

    def __enter__(self) -> Self:
        for name, argv in (("proc", ["mount", "-t", "proc", "proc"]),
                           ("sys", ["mount", "--rbind", "/sys"]),
                           ("dev", ["mount", "--rbind", "/dev"])):
            target = self.root / name
            if os.path.ismount(target):
                continue  # someone else's mount: leave it to them
            _run(argv + [str(target)])
            self.mounted.append(target)
            if name != "proc":
                _run(["mount", "--make-rslave", str(target)])
        return self

    def __exit__(self, *exc: object) -> None:
        for target in reversed(self.mounted):
            subprocess.run(["umount", "-R", str(target)], check=False)
        self.mounted.clear()


def build(root: Path, suite: str, mirror: str = MIRROR) -> None:
    """Make `root` a minbase Debian `suite` with libvirt's QEMU driver and
    python3-libvirt; each step is skipped when already done."""
    if not (root / "usr/bin/python3").exists() and not (root / "usr/bin/apt-get").exists():
        if shutil.which("debootstrap") is None:
            raise ChrootError("debootstrap is not installed (apt-get install debootstrap)")
        root.mkdir(parents=True, exist_ok=True)
        argv = ["debootstrap", "--variant=minbase", suite, str(root), mirror]
        if suite in SCRIPTS:
            argv.append(SCRIPTS[suite])
        _run(argv)
    policy = root / "usr/sbin/policy-rc.d"  # no service starts inside
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    if suite in SCRIPTS:
        # a testing snapshot's Release file may have expired; signatures are still checked
        (root / "etc/apt/apt.conf.d/99no-valid-until").write_text('Acquire::Check-Valid-Until "false";\n')
    if _has_libvirt(root):
        return
    with Mounts(root):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run(["chroot", str(root), "apt-get", "update"], env=env)
        _run(["chroot", str(root), "apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], env=env)
    if not _has_libvirt(root):
        raise ChrootError(f"{root}: python3-libvirt still cannot be imported after the install")


class Oracle:
    """A running oracle.py inside a chroot: `ask` one case, get libvirt's answer."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not _has_libvirt(self.root):
            raise ChrootError(f"{self.root} has no python3-libvirt: build it first "
                              f"(python3 {Path(__file__).name} build {self.root} --suite trixie|testing)")
        target = self.root / ORACLE_IN_CHROOT.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ORACLE, target)
        self.mounts = Mounts(self.root)
        self.process: subprocess.Popen | None = None
        try:
            self.mounts.__enter__()
            self.process = subprocess.Popen(["chroot", str(self.root), "python3", ORACLE_IN_CHROOT],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.version = self.ask({"op": "version"})["version"]
        except BaseException:
            self.close()  # nothing stays mounted behind a failed start
            raise

    @property
    def version_name(self) -> str:
        v = self.version
        return f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"

    def ask(self, case: dict) -> dict:
        assert self.process is not None and self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(case) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise ChrootError(f"the oracle in {self.root} stopped (exit status {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        """Stop the oracle and unmount, whatever state the oracle is in."""
        try:
            if self.process is not None:
                try:
                    if self.process.stdin:
                        self.process.stdin.close()
                except OSError:
                    pass  # it died first (a signal to the process group): nothing to flush
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            self.mounts.__exit__(None, None, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build (or finish building) a chroot")
    p_build.add_argument("root", type=Path)
    p_build.add_argument("--suite", required=True, help="trixie (libvirt 11.3.0) or testing (12.x)")
    p_build.add_argument("--mirror", default=MIRROR)
    p_self = sub.add_parser("selftest", help="ask the chroot's libvirt a few questions")
    p_self.add_argument("root", type=Path)
    p_ask = sub.add_parser("ask", help="JSON cases on stdin, libvirt's answers on stdout")
    p_ask.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    # a kill (timeout, CI) must still unmount what was mounted: make it an exit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.command == "build":
        build(args.root, args.suite, args.mirror)
        with Oracle(args.root) as oracle:
            print(f"{args.root}: libvirt {oracle.version_name}")
        return 0
    with Oracle(args.root) as oracle:
        if args.command == "selftest":
            print(f"libvirt {oracle.version_name}")
            print(oracle.ask({"op": "expand", "xmls": [
                "<cpu><arch>x86_64</arch><model>Skylake-Server</model><vendor>Intel</vendor></cpu>"]})["xml"])
            return 0
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(oracle.ask(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
