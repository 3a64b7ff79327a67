"""Which libvirt URIs an inventory may make cpucompat open.

A URI is an instruction to libvirt, and libvirt's URIs can do more than
name a host (docs/uri.rst, the remote driver's doRemoteOpen):
``qemu+ext:///system?command=/path/evil.sh`` runs a local program,
``command=`` picks the ssh binary, ``socket=`` a local Unix socket,
``keyfile=``, ``pkipath=``, ``known_hosts=`` (which libssh2 may rewrite) and
``authfile=`` local files, ``netcat=`` a program on the remote host,
``no_verify=`` and ``known_hosts_verify=`` turn host checks off, ``name=``
chooses what the remote daemon opens, and ``test:///PATH`` makes the test
driver read a local file.  URIs read from inventories are data written by
someone else, so only what reads a host's capabilities is allowed:

* drivers ``qemu``, ``test``, ``xen``, ``lxc``, with no transport (a local
  daemon, or TLS to a host) or transport ``ssh``, ``libssh``, ``libssh2``,
  ``tls``, ``tcp`` or ``unix`` (its default socket); never ``ext``;
* the driver instance as a path (``/system``, ``/session``; ``/default``
  for ``test``), never a file or an embedded driver's root;
* a plain host name or address, and a plain user name (nothing an ssh
  command line or ssh_config could read as more);
* only the parameters in SAFE_PARAMETERS.

`check_uri` runs before libvirt sees the URI.  The CLI's
``--trust-command-line-uris`` skips it for URIs typed on the command line,
never for URIs read from a file.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from ..display import shown
from ..errors import UnsafeUri

__all__ = ["SAFE_PARAMETERS", "TRANSPORTS", "check_uri"]

TRANSPORTS = ("", "ssh", "libssh", "libssh2", "tls", "tcp", "unix")
# driver → the paths naming its instances
DRIVER_PATHS = {
    "qemu": ("/system", "/session"),
    "test": ("/default",),
    "xen": ("", "/", "/system"),
    "lxc": ("", "/", "/system"),
}
# Parameters that only choose among libvirt's own behaviours.
SAFE_PARAMETERS = ("mode", "proxy", "no_tty", "no_sanity", "sshauth", "tls_priority")
_WHY_REFUSED = {
    "command": "names a local program to run",
    "socket": "names a local socket (or one on the remote host)",
    "netcat": "names a program to run on the remote host",
    "keyfile": "names a local key file",
    "pkipath": "names a local certificate directory",
    "known_hosts": "names a local file libvirt may rewrite",
    "authfile": "names a local credentials file",
    "known_hosts_verify": "changes how the host's key is checked",
    "no_verify": "turns off checking the host's key or certificate",
    "name": "chooses what the remote daemon opens",
    "root": "names a local directory for an embedded driver",
    "auth": "chooses the authentication",
}
_SCHEME = re.compile(r"([a-z]+)(?:\+([a-z0-9]+))?")
_AUTHORITY = re.compile(
    r"(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?"
    r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])?"
    r"(?::(?P<port>[0-9]{1,5}))?")
_PATH = re.compile(r"[^?#]*")


def check_uri(uri: str) -> None:
    """Refuse (UnsafeUri, naming the URI and the reason) a libvirt URI that
    could make libvirt run a program, open a local file or socket, or
    weaken its host checks; see the module docstring."""
    def refuse(reason: str) -> UnsafeUri:
        return UnsafeUri(f"not opened: {reason}", source=shown(uri))

    scheme, sep, rest = uri.partition("://")
    match = _SCHEME.fullmatch(scheme)
    if not sep or match is None:
        raise refuse("not a libvirt URI (driver[+transport]://[user@]host/path)")
    driver, transport = match.group(1), match.group(2) or ""
    if driver not in DRIVER_PATHS:
        raise refuse(f"driver {shown(driver)!r} is not read (drivers: {', '.join(DRIVER_PATHS)})")
    if transport == "ext":
        raise refuse("transport 'ext' runs a local program")
    if transport not in TRANSPORTS:
        raise refuse(f"transport {shown(transport)!r} is not used (transports: "
                     f"{', '.join(t for t in TRANSPORTS if t)})")
    if "#" in rest:
        raise refuse("a URI fragment ('#') is not read")
    authority, _, rest = rest.partition("/")
    if not _AUTHORITY.fullmatch(authority):
        raise refuse(f"{shown(authority)!r} is not a plain [user@]host[:port]")
    path, _, query = ("/" + rest).partition("?")
    if path not in DRIVER_PATHS[driver]:
        raise refuse(f"path {shown(path)!r} is not a {driver} driver instance "
                     f"({', '.join(p for p in DRIVER_PATHS[driver] if p) or '/'}); it may name a local file")
    # libvirt splits parameters at '&' (and ';'), unescapes them and compares
    # names without case: split at both, so no name libvirt sees goes unseen
    for parameter in re.split(r"[&;]", query) if query else ():
        name = unquote(parameter.partition("=")[0].replace("+", " ")).lower()
        if name in SAFE_PARAMETERS:
            continue
        why = _WHY_REFUSED.get(name, f"is not one of {', '.join(SAFE_PARAMETERS)}")
        raise refuse(f"parameter {shown(name)!r} {why}")
