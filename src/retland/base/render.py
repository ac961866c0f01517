"""Headless rendering of Brax trajectories for the gait / misstep frames (paper Fig. 1, 4, A.11).

Two renderers, chosen once per process:

* ``mujoco``: brax's ``brax.io.image.render_array`` (the MuJoCo renderer) through
  OSMesa (``MUJOCO_GL=osmesa``, Debian's ``libosmesa6``), using the model's ``track``
  camera so the robot stays in view. Works on a CPU-only machine. The GL backend is
  chosen by ``base.gl.configure_mujoco_gl(render=True)``, which a job calls before
  anything imports MuJoCo (importing this module sets nothing).
* ``fallback``: a matplotlib side view (x-z plane) drawn from the link poses and the
  model's geoms (capsules as thick segments, spheres as discs), used when no GL
  context can be created (e.g. a CI machine without libosmesa6). It is logged and its
  name is written into every output that holds frames (attribute ``renderer``).

Frames are ``uint8`` arrays ``[F, H, W, 3]``. ``retland.rollout.make_recording_rollout``
records what the renderers need (:class:`Pose`: q, qd, link positions and rotations) at
every step, which is much smaller than whole pipeline states.
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple

import numpy as np

from .gl import OFF

RENDERERS = ("mujoco", "fallback")


class Pose(NamedTuple):
    """What a renderer needs of one simulator state (brax's render_array reads q, qd)."""

    q: np.ndarray
    qd: np.ndarray
    pos: np.ndarray  # [links, 3] link positions in the world frame
    rot: np.ndarray  # [links, 4] link rotations (w, x, y, z)


def pose_of(pipeline_state) -> Pose:
    ps = pipeline_state
    return Pose(np.asarray(ps.q), np.asarray(ps.qd), np.asarray(ps.x.pos), np.asarray(ps.x.rot))


def poses_at(poses: Pose, steps) -> list[Pose]:
    """Poses of a recorded (unbatched) trajectory at the given step indices."""
    return [Pose(*(np.asarray(f)[int(t)] for f in poses)) for t in steps]


# --- MuJoCo (OSMesa) ------------------------------------------------------------------

_MUJOCO_OK: bool | None = None
_MUJOCO_ERROR = ""


def mujoco_available() -> bool:
    """Whether an offscreen MuJoCo GL context can be created here (tried once)."""
    global _MUJOCO_OK, _MUJOCO_ERROR
    if _MUJOCO_OK is None and os.environ.get("MUJOCO_GL", "").strip().lower() in OFF:
        _MUJOCO_OK, _MUJOCO_ERROR = False, f"MUJOCO_GL={os.environ['MUJOCO_GL']}"
    if _MUJOCO_OK is None:
        try:
            import mujoco

            m = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='1'/></worldbody></mujoco>")
            r = mujoco.Renderer(m, height=8, width=8)
            r.close()
            _MUJOCO_OK = True
        except Exception as e:  # no libosmesa6 / no GL: use the fallback
            _MUJOCO_OK = False
            _MUJOCO_ERROR = f"{type(e).__name__}: {e}"
    return _MUJOCO_OK


def render_mujoco(sys, poses: list[Pose], width: int, height: int) -> np.ndarray:
    from brax.io import image

    m = sys.mj_model
    camera = "track" if any(m.camera(i).name == "track" for i in range(m.ncam)) else None
    frames = image.render_array(sys, list(poses), height=height, width=width, camera=camera)
    return np.stack([np.asarray(f, np.uint8) for f in frames])


# --- matplotlib fallback ----------------------------------------------------------------

def _quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    u = np.array([x, y, z])
    return v + 2.0 * np.cross(u, np.cross(u, v) + w * v)


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def geom_segments(sys, pose: Pose) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """World-frame (end_a, end_b, radius) of every non-world geom (spheres: a == b)."""
    import mujoco

    m = sys.mj_model
    out = []
    for g in range(m.ngeom):
        b = int(m.geom_bodyid[g])
        if b == 0:  # the floor and other world geoms
            continue
        link = b - 1  # brax links are the MuJoCo bodies without the world body
        pos, rot = np.asarray(pose.pos[link], float), np.asarray(pose.rot[link], float)
        center = pos + _quat_rotate(rot, np.asarray(m.geom_pos[g], float))
        grot = _quat_mul(rot, np.asarray(m.geom_quat[g], float))
        size = np.asarray(m.geom_size[g], float)
        if int(m.geom_type[g]) in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
            half = _quat_rotate(grot, np.array([0.0, 0.0, size[1]]))
            out.append((center - half, center + half, float(size[0])))
        else:
            out.append((center, center, float(size[0])))
    return out


def render_fallback(sys, poses: list[Pose], width: int, height: int) -> np.ndarray:
    """Side view (x-z) of the geoms, following the root link, drawn with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    frames = []
    dpi = 100
    for pose in poses:
        fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes([0, 0, 1, 1])
        cx = float(pose.pos[0][0])
        span = 2.0
        ax.set_xlim(cx - span, cx + span)
        ax.set_ylim(-0.3, -0.3 + 2 * span * height / width)
        ax.set_facecolor("#dfe9f3")
        ax.axhspan(-1.0, 0.0, color="#8c8c8c")
        for t in np.arange(np.floor(cx - span), cx + span + 1, 0.5):  # ground ticks show motion
            ax.plot([t, t], [-0.08, 0.0], color="#5a5a5a", linewidth=1)
        pts_per_m = (width / (2 * span)) * 72 / dpi
        for a, b, r in geom_segments(sys, pose):
            lw = max(2.0, 2 * r * pts_per_m)
            if np.allclose(a, b):
                ax.plot([a[0]], [a[2]], "o", color="#c9762f", markersize=lw)
            else:
                ax.plot([a[0], b[0]], [a[2], b[2]], color="#c9762f", linewidth=lw, solid_capstyle="round")
        ax.set_axis_off()
        canvas.draw()
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return np.stack(frames).astype(np.uint8)


def render(sys, poses: list[Pose], width: int = 240, height: int = 240, renderer: str | None = None,
           log: Callable[[str], None] = print) -> tuple[np.ndarray, str]:
    """Frames ``uint8 [F, H, W, 3]`` of ``poses`` and the name of the renderer used.

    ``renderer=None`` picks MuJoCo when a GL context can be created, else the fallback
    (logged, with the reason). ``"mujoco"`` / ``"fallback"`` force one.
    """
    if not poses:
        raise ValueError("render: no poses to render")
    if renderer not in (None, *RENDERERS):
        raise ValueError(f"unknown renderer {renderer!r}; known: {RENDERERS}")
    if renderer is None:
        renderer = "mujoco" if mujoco_available() else "fallback"
        if renderer == "fallback":
            log(f"[render] MuJoCo offscreen rendering unavailable ({_MUJOCO_ERROR}); "
                f"using the matplotlib FALLBACK renderer (side view of the geoms)")
    if renderer == "mujoco":
        return render_mujoco(sys, poses, width, height), "mujoco"
    return render_fallback(sys, poses, width, height), "fallback"


def is_blank(frame: np.ndarray) -> bool:
    """True for an image with no content: constant, or one colour covering >= 99% of it."""
    f = np.asarray(frame)
    if f.std() == 0:
        return True
    flat = f.reshape(-1, f.shape[-1])
    _, counts = np.unique(flat, axis=0, return_counts=True)
    return counts.max() >= 0.99 * flat.shape[0]
