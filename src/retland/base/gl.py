"""Which OpenGL backend MuJoCo may use in this process, decided before MuJoCo is imported.

MuJoCo reads ``MUJOCO_GL`` once, when it is first imported (brax imports it): with
``MUJOCO_GL=osmesa`` and no loadable ``libOSMesa`` (Debian's ``libosmesa6``), ``import
mujoco`` itself raises, and with it every Brax import of the process and of every
subprocess that inherits the variable. So nothing here runs at import time: a job calls
:func:`configure_mujoco_gl` at its start, before anything imports MuJoCo.

* ``render=False`` (training, post-update, every job that only simulates): a
  ``MUJOCO_GL=osmesa`` that cannot work is replaced by ``disable`` (logged); any other
  value, or none, is left as the user set it.
* ``render=True`` (the jobs that draw frames): with ``MUJOCO_GL`` unset or ``osmesa``,
  OSMesa is used when its library loads and ``disable`` is set otherwise (frames then come
  from the matplotlib fallback renderer, ``base/render.py``); ``egl``, ``glfw``,
  ``disable``, ... set by the user are respected (a renderer that cannot start falls back).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Callable

#: MUJOCO_GL values with which MuJoCo creates no GL context at all.
OFF = ("disable", "disabled", "off", "false", "0")


def osmesa_status() -> tuple[bool, str]:
    """``(loadable, detail)``: whether libOSMesa can be found *and* loaded here."""
    name = ctypes.util.find_library("OSMesa")
    if not name:
        return False, "libOSMesa not found (Debian package libosmesa6 is not installed)"
    try:
        ctypes.CDLL(name)
    except OSError as e:
        return False, f"libOSMesa ({name}) cannot be loaded: {e}"
    return True, name


def configure_mujoco_gl(render: bool = False, log: Callable[[str], None] = print) -> str:
    """Set ``MUJOCO_GL`` for this process (before MuJoCo is imported); returns the value.

    Too late once ``mujoco`` is imported: then the value in force is returned unchanged.
    """
    current = os.environ.get("MUJOCO_GL", "").strip().lower()
    if "mujoco" in sys.modules or current not in ("", "osmesa"):
        return current
    if current == "" and not render:
        return current
    ok, detail = osmesa_status()
    if ok:
        os.environ["MUJOCO_GL"] = "osmesa"
        return "osmesa"
    if current == "osmesa":
        log(f"[gl] MUJOCO_GL=osmesa, but {detail}: using MUJOCO_GL=disable (no MuJoCo frames; "
            f"the fallback renderer draws them)")
    os.environ["MUJOCO_GL"] = "disable"
    return "disable"
