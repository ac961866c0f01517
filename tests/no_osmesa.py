"""Run a command on this machine as on one without libOSMesa (Debian's libosmesa6).

Where the library is installed and we are root, the command runs in a private mount
namespace in which every libOSMesa file is /dev/null (``unshare`` + bind mounts, like
``shared/tools/without-debian-packages.sh``): loading it fails exactly as on a machine
without the package. Where it is not installed, the command runs as it is (that already
is the no-library path). Where it is installed and we are not root, it cannot be hidden.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from retland.base.gl import osmesa_status


def osmesa_files() -> list[str]:
    """The real files behind every libOSMesa entry of the dynamic linker's cache."""
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    paths = {os.path.realpath(line.split("=>")[-1].strip()) for line in out.splitlines()
             if "libOSMesa" in line and "=>" in line}
    return sorted(p for p in paths if os.path.isfile(p))


def without_osmesa(cmd: list[str]) -> list[str] | None:
    """``cmd`` wrapped so that libOSMesa cannot be loaded; None if that is impossible here."""
    if not osmesa_status()[0]:
        return list(cmd)
    files = osmesa_files()
    if not files or os.geteuid() != 0 or not shutil.which("unshare"):
        return None
    script = 'n=$1; shift; for _ in $(seq "$n"); do mount --bind /dev/null "$1"; shift; done; exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", script, "hide",
            str(len(files)), *files, *cmd]
