"""Atari games (paper A.6: PPO on Qbert, MsPacman, Breakout, Seaquest), stepped on the host.

Protocol (docs/design.md, section 3). The authors trained with
``envpool.make("<Game>-v5", episodic_life=True, reward_clip=True)`` and evaluated with the same
plus ``noop_max=1, repeat_action_probability=0.0`` and one fixed seed; a copy
(:class:`AtariGameEnv`) reproduces envpool's Atari environment (``envpool/atari/atari_env.h``,
the preprocessing of CleanRL's ``ppo_atari_envpool``) on ``ale_py.ALEInterface`` directly (no
gymnasium wrappers: one object to snapshot, ``cloneState``/``restoreState`` on hand, and the
fewest copies of a frame per step):

* ROM, action set: the game's ALE ROM, no sticky actions (``repeat_action_probability`` 0),
  the *minimal* action set (``getMinimalActionSet``, envpool's ``full_action_space=False``); an
  action is an index into it (``act_dim`` of the spec is the number of discrete actions).
* A step repeats the action for 4 frames (stopping early at game over), sums the 4 rewards and
  observes the pixel-wise max of the last two frames' grayscale screens (ALE's palette
  luminance, ``getScreenGrayscale``, as envpool's ``gray_scale``), resized 210x160 -> 84x84
  by area interpolation (OpenCV's ``INTER_AREA``, envpool's ``use_inter_area_resize``;
  computed here exactly in integers, no OpenCV). The observation is the last 4 such frames,
  uint8 ``(84, 84, 4)``, oldest first along the last (channel) axis (envpool stacks on the
  first axis; a policy that wants channels first transposes).
* Reset: a new game, then ``U{0..noop_max-1} + 1`` NOOPs, one fewer when the minimal action
  set has FIRE, which then is pressed once (envpool's ``use_fire_reset``): ``noop_max`` is 30
  in ``mode="train"`` and 1 in ``mode="eval"`` (the authors' evaluation: one NOOP, or none and
  FIRE, no randomness). A game that ends during the NOOPs is started again. The first frame
  fills the whole stack.
* ``episodic_life`` (default True, as both of the authors' envs): ``terminated`` is True when a
  life is lost (``0 < lives < lives before``) or the game is over. What an evaluation return
  then counts is the rollout's business (:class:`retland.rollout.HostRollout`,
  ``return_definition``). The authors did *not* stop at the first life lost. Their
  ``evaluate_policy`` (``eval_policy/experiments/utils.py`` l. 83-97) overwrites ``done`` on
  every step. envpool resets a finished copy on its next step, and with episodic life that
  reset continues the game. So each copy keeps scoring through its later lives (and new games)
  for ``eval_len + 1`` steps. It drops the reward of a step that loses a life
  (``reward * (1 - done)``) and stops early only when every copy is done on the same step
  (``"authors"``, rollouts in ``mode="eval_continue"``). ``"first_life"`` counts up to and
  including the step that loses the first life.
* ``reward_clip`` (default True, as both of the authors' envs, their evaluation envs
  included): the reward is ``sign`` of the summed game score, so a return is a count of
  scoring steps (the unclipped score is not what the paper's landscapes measure).
* Resets in a :class:`retland.base.host.HostBatch`-driven loop: the loop resets a copy when it
  terminated *or* hit the caller's time limit, and a copy cannot be told which. It knows what
  its own last step did: in ``mode="train"``, a reset after a life-loss termination of a game
  that is not over *continues that game* (NOOPs and FIRE drawn as above, frame stack kept:
  envpool's episodic-life reset, gym's ``EpisodicLifeEnv``); after a game over, after a step
  that did not terminate (the caller's time limit), or before any step, it starts a new game.
  In ``mode="eval"`` every reset starts a new game (an evaluation reset is s_I's
  distribution, whatever came before). ``mode="eval_continue"`` is the authors' evaluation
  env between the steps of one evaluation (envpool 0.8.1 ``atari_env.h`` ``Reset`` with
  ``episodic_life=True, noop_max=1``): resets as ``"eval"`` (one NOOP, or FIRE), but a
  reset after a life lost continues the game, as in ``"train"``. The three modes step
  identically: a rollout copy built in training mode and restored to s_I acts as the authors'
  evaluation env until its first termination.
* Training resets draw their NOOP counts from each copy's own ``numpy`` random stream (PCG64,
  seeded with the copy's seed); the ALE's own random stream is seeded from it too
  (``random_seed``; unused without sticky actions but part of the state). The reference
  initial state s_I is an eval-mode reset with seed :data:`REFERENCE_SEED` (the authors
  evaluated every copy from one seed).
* Snapshot: float64 vector of fixed size (one size for every game, so snapshots of a batch
  stack), layout:

  ==============================  ====================================================
  ``[0]``                          :data:`SNAPSHOT_VERSION` (refuses foreign vectors)
  ``[1]``                          game code: the index of the game in :data:`ATARI_GAMES`
  ``[2]``                          L: length in bytes of the serialized ALE state
  ``[3 : 3+ALE_SLOT/6]``           ``ALEState.serialize()`` of ``cloneState(include_rng=True)``
                                   (emulator, cartridge, frame counters and the ALE's random
                                   stream), zero-padded to :data:`ALE_SLOT` bytes, packed
  next ``84*84*4/6``               the frame stack (uint8 (84, 84, 4), C order), packed
  next 1                           lives counter (lives after the last step or reset)
  next 1                           1 if the last step lost a life of a game not over (the
                                   next training reset continues the game), else 0
  next 10                          PCG64 state: state and increment as four 32-bit words
                                   each (least significant first), ``has_uint32``,
                                   ``uinteger``
  ==============================  ====================================================

  "Packed": 6 bytes per number, little-endian, as an exact integer in [0, 2**48) (a float64
  holds it exactly; one byte per number would make a snapshot 6 times larger). A restored copy
  continues bit-identically (observations, rewards, terminations, later resets), whatever
  seed it was built with; only the game and the constructor settings (mode, ``episodic_life``,
  ``reward_clip``) are the copy's own.
"""

from __future__ import annotations

import functools
import re
import sys

import numpy as np

from .suites import EnvSpec

#: config name -> ALE ROM id. The paper's four (A.6); pong only for tests and tiny configs.
ATARI_GAMES = {
    "qbert": "Qbert",
    "mspacman": "MsPacman",
    "breakout": "Breakout",
    "seaquest": "Seaquest",
    # a small game for tests and the tiny CI config (not in the paper)
    "pong": "Pong",
}

MODES = ("train", "eval", "eval_continue")
REFERENCE_SEED = 0
FRAME_SKIP = 4
STACK = 4
OBS_SHAPE = (84, 84, STACK)
NOOP_MAX = {"train": 30, "eval": 1, "eval_continue": 1}
#: modes whose reset after a life lost (episodic life) continues the game
CONTINUING = ("train", "eval_continue")
#: envpool's Atari time limit (108,000 frames): the default ``episode_length``
EPISODE_LENGTH = 27_000

SNAPSHOT_VERSION = 1.0
#: bytes reserved for a serialized ALE state (with its random stream: about 14.5 kB)
ALE_SLOT = 24_576
_PACK = 6  # bytes per float64 number in packed blobs
_RAW = (210, 160)
_FIRE = 1  # ALE action FIRE


def _rom_path(rom_id: str) -> str:
    """The ROM file of an ALE ROM id ("MsPacman" -> ale_py's roms/ms_pacman.bin)."""
    from ale_py import roms

    path = roms.get_rom_path(re.sub(r"(?<!^)(?=[A-Z])", "_", rom_id).lower())
    if path is None:
        raise RuntimeError(f"ale-py has no ROM for {rom_id!r}")
    return str(path)


# --- preprocessing --------------------------------------------------------------------

def _area_taps(n_in: int, n_out: int):
    """Area interpolation (OpenCV's INTER_AREA) along one axis in integers: output i is
    ``sum_k w[i, k] * x[idx[i, k]] / n_in`` with ``w`` the overlap of source cell idx[i, k]
    and output cell i in units of 1/n_out of a source cell (each row of ``w`` sums to n_in)."""
    lo = np.arange(n_out) * n_in  # output cell i covers [i*n_in, (i+1)*n_in) in these units
    taps = []
    for i in range(n_out):
        a, b = lo[i], lo[i] + n_in
        js = range(a // n_out, -(-b // n_out))
        taps.append([(j, min(b, (j + 1) * n_out) - max(a, j * n_out)) for j in js])
    k = max(len(t) for t in taps)
    idx = np.zeros((n_out, k), np.intp)
    w = np.zeros((n_out, k), np.int32)
    for i, t in enumerate(taps):
        for c, (j, wt) in enumerate(t):
            idx[i, c], w[i, c] = j, wt
    assert (w.sum(1) == n_in).all()
    return idx, w


_ROWS = _area_taps(_RAW[0], OBS_SHAPE[0])
_COLS = _area_taps(_RAW[1], OBS_SHAPE[1])
_AREA_DEN = float(_RAW[0] * _RAW[1])


def resize_area(frame: np.ndarray) -> np.ndarray:
    """210x160 uint8 -> 84x84 uint8 by exact area averaging, rounded to nearest (ties to even)."""
    x = frame.astype(np.int32)
    (iy, wy), (ix, wx) = _ROWS, _COLS
    r = wy[:, 0, None] * x[iy[:, 0]]
    for k in range(1, iy.shape[1]):
        r += wy[:, k, None] * x[iy[:, k]]
    c = wx[:, 0] * r[:, ix[:, 0]]
    for k in range(1, ix.shape[1]):
        c += wx[:, k] * r[:, ix[:, k]]
    return np.rint(c / _AREA_DEN).astype(np.uint8)


# --- snapshot packing -----------------------------------------------------------------

_WEIGHTS = (256 ** np.arange(_PACK, dtype=np.uint64)).astype(np.uint64)


def _pack(blob: bytes | np.ndarray, n_bytes: int) -> np.ndarray:
    b = np.zeros(n_bytes, np.uint8)
    raw = np.frombuffer(blob, np.uint8) if isinstance(blob, (bytes, bytearray)) else blob.ravel()
    b[: raw.size] = raw
    return (b.reshape(-1, _PACK).astype(np.uint64) @ _WEIGHTS).astype(np.float64)


def _unpack(nums: np.ndarray) -> np.ndarray:
    v = nums.astype(np.uint64)[:, None] >> (np.arange(_PACK, dtype=np.uint64) * np.uint64(8))
    return (v & np.uint64(255)).astype(np.uint8).ravel()


_N_ALE = ALE_SLOT // _PACK
_N_STACK = int(np.prod(OBS_SHAPE)) // _PACK
_N_RNG = 10
_HEAD = 3
SNAPSHOT_SIZE = _HEAD + _N_ALE + _N_STACK + 2 + _N_RNG
assert ALE_SLOT % _PACK == 0 and np.prod(OBS_SHAPE) % _PACK == 0


def _words(x: int) -> list[float]:
    return [float((x >> (32 * k)) & 0xFFFFFFFF) for k in range(4)]


def _from_words(w) -> int:
    return sum(int(v) << (32 * k) for k, v in enumerate(w))


class AtariGameEnv:
    """One copy of an Atari game (a :class:`retland.base.host.HostEnv`; the protocol in this
    module's docstring). ``step`` takes an action index in ``[0, n_actions)``."""

    def __init__(self, name: str, seed: int, mode: str = "train", episodic_life: bool = True,
                 reward_clip: bool = True):
        import ale_py

        if name not in ATARI_GAMES:
            raise ValueError(f"unknown Atari game {name!r}; known: {sorted(ATARI_GAMES)}")
        if mode not in MODES:
            raise ValueError(f"Atari copy mode must be one of {list(MODES)}, got {mode!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"an Atari copy's seed must be an integer >= 0, got {seed!r}")
        self.name, self.mode = name, mode
        self.episodic_life, self.reward_clip = bool(episodic_life), bool(reward_clip)
        self.game_code = list(ATARI_GAMES).index(name)
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self._state_cls = ale_py.ALEState
        ale = self.ale = ale_py.ALEInterface()
        ale.setInt("random_seed", int(seed) % (2 ** 31 - 1))
        ale.setFloat("repeat_action_probability", 0.0)
        ale.setInt("frame_skip", 1)
        ale.setInt("max_num_frames_per_episode", 0)
        ale.loadROM(_rom_path(ATARI_GAMES[name]))
        self.actions = list(ale.getMinimalActionSet())
        self.action_names = tuple(a.name for a in self.actions)
        self.fire_reset = any(a.value == _FIRE for a in self.actions)
        self._noop, self._fire = ale_py.Action.NOOP, ale_py.Action.FIRE
        self.n_actions = self.act_dim = len(self.actions)
        self.obs_shape = OBS_SHAPE
        self.obs_dim = int(np.prod(OBS_SHAPE))
        self.noop_max = NOOP_MAX[mode]
        self.rng = np.random.Generator(np.random.PCG64(int(seed)))
        self._raw = np.zeros((2,) + _RAW, np.uint8)  # the last two frames of a step
        self._stack = np.zeros(OBS_SHAPE, np.uint8)
        # a pixel's 4 stacked bytes as one little-endian uint32: pushing a frame is a shift
        self._stack32 = self._stack.view(np.uint32)[..., 0] if sys.byteorder == "little" else None
        self._lives = int(ale.lives())
        self._continue = False  # the last step lost a life of a game not over

    # --- the HostEnv protocol ---------------------------------------------------------
    def reset(self) -> np.ndarray:
        ale = self.ale
        new_game = not (self.mode in CONTINUING and self.episodic_life and self._continue)
        self._continue = False
        if new_game:
            ale.reset_game()
        for _ in range(int(self.rng.integers(self.noop_max)) + 1 - self.fire_reset):
            ale.act(self._noop)
            if ale.game_over():
                ale.reset_game()
                new_game = True
        if self.fire_reset:
            ale.act(self._fire)
        ale.getScreenGrayscale(self._raw[0])
        self._push(self._raw[0], fill=new_game)
        self._lives = int(ale.lives())
        return self._stack.copy()

    def step(self, action) -> tuple[np.ndarray, float, bool]:
        ale, act = self.ale, self.actions[self._index(action)]
        reward, frames = 0, 0
        while frames < FRAME_SKIP:
            reward += ale.act(act)
            frames += 1
            if frames > FRAME_SKIP - 2:
                ale.getScreenGrayscale(self._raw[frames - FRAME_SKIP + 1])
            if ale.game_over():
                break
        if frames == FRAME_SKIP:
            frame = np.maximum(self._raw[0], self._raw[1])
        else:  # the game ended before the last frame: its latest screen (the terminal observation)
            frame = ale.getScreenGrayscale()
        self._push(frame, fill=False)
        lives, over = int(ale.lives()), bool(ale.game_over())
        life_lost = self.episodic_life and 0 < lives < self._lives
        self._continue = life_lost and not over
        self._lives = lives
        r = float(np.sign(reward)) if self.reward_clip else float(reward)
        return self._stack.copy(), r, bool(over or life_lost)

    def snapshot(self) -> np.ndarray:
        ale_bytes = self.ale.cloneState(include_rng=True).serialize()
        if len(ale_bytes) > ALE_SLOT:
            raise RuntimeError(f"Atari {self.name}: the ALE state has {len(ale_bytes)} bytes, more than the "
                               f"{ALE_SLOT} a snapshot reserves (raise ALE_SLOT)")
        st = self.rng.bit_generator.state
        assert st["bit_generator"] == "PCG64"
        rng = _words(st["state"]["state"]) + _words(st["state"]["inc"]) + [st["has_uint32"], st["uinteger"]]
        return np.concatenate([[SNAPSHOT_VERSION, self.game_code, len(ale_bytes)], _pack(ale_bytes, ALE_SLOT),
                               _pack(self._stack, self.obs_dim), [self._lives, float(self._continue)],
                               np.asarray(rng, np.float64)])

    def restore(self, snap) -> np.ndarray:
        snap = np.asarray(snap, np.float64)
        if snap.shape != (SNAPSHOT_SIZE,) or snap[0] != SNAPSHOT_VERSION:
            raise ValueError(f"an Atari snapshot is {SNAPSHOT_SIZE} numbers starting with {SNAPSHOT_VERSION}, "
                             f"got shape {snap.shape}" + (f" starting with {snap[0]}" if snap.size else ""))
        if snap[1] != self.game_code:
            other = list(ATARI_GAMES)[int(snap[1])] if 0 <= snap[1] < len(ATARI_GAMES) else f"code {snap[1]}"
            raise ValueError(f"a snapshot of Atari {other} cannot be restored into a copy of {self.name}")
        n = int(snap[2])
        if not 0 < n <= ALE_SLOT:
            raise ValueError(f"an Atari snapshot's ALE state length must be in [1, {ALE_SLOT}], got {snap[2]}")
        i = _HEAD
        ale_bytes = _unpack(snap[i: i + _N_ALE])[:n].tobytes()
        i += _N_ALE
        stack = _unpack(snap[i: i + _N_STACK]).reshape(OBS_SHAPE)
        i += _N_STACK
        lives, cont = snap[i: i + 2]
        w = snap[i + 2: i + 2 + _N_RNG]
        self.ale.restoreState(self._state_cls(ale_bytes))
        self._stack[...] = stack
        self._lives, self._continue = int(lives), bool(cont)
        self.rng.bit_generator.state = {"bit_generator": "PCG64",
                                        "state": {"state": _from_words(w[:4]), "inc": _from_words(w[4:8])},
                                        "has_uint32": int(w[8]), "uinteger": int(w[9])}
        return self._stack.copy()

    # --- helpers ----------------------------------------------------------------------
    def _index(self, action) -> int:
        a = np.asarray(action)
        if a.size != 1 or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise ValueError(f"an Atari action is one action index, got {action!r}")
        v = a.reshape(())[()]
        if not (np.isfinite(v) and float(v) == int(v) and 0 <= int(v) < self.n_actions):
            raise ValueError(f"Atari {self.name}: action {v!r} is not an index in [0, {self.n_actions}) "
                             f"of the minimal action set {list(self.action_names)}")
        return int(v)

    def _push(self, frame: np.ndarray, fill: bool):
        small = resize_area(frame)
        if fill:
            self._stack[...] = small[:, :, None]
        elif self._stack32 is not None:  # drop channel 0, channels 1..3 -> 0..2, the new one -> 3
            np.right_shift(self._stack32, 8, out=self._stack32)
            np.bitwise_or(self._stack32, small.astype(np.uint32) << 24, out=self._stack32)
        else:
            self._stack[:, :, :-1] = self._stack[:, :, 1:]
            self._stack[:, :, -1] = small


def make_game_env(name: str, seeds: tuple, mode: str, i: int) -> AtariGameEnv:
    """Copy ``i`` of a batch whose copy j draws its training resets with seed ``seeds[j]``."""
    return AtariGameEnv(name, seeds[i], mode=mode)


class AtariEnv:
    """Suite adapter for the Atari games (host-stepped; see :mod:`retland.base.host`).

    ``spec.obs_dim`` is the flattened observation size 84*84*4 (``obs_shape`` is the uint8
    observation's shape (84, 84, 4)); ``spec.act_dim`` is the *number of discrete actions*
    (the game's minimal action set): an action is one index in ``[0, act_dim)``."""

    suite = "atari"
    host_stepped = True
    default_backend = "ale"  # the simulator recorded as ``backend`` (the constructor's default)
    discrete_actions = True  # agents check it: an action is an index, not a vector in [-1, 1]

    def __init__(self, name: str, backend: str = default_backend, episode_length: int = EPISODE_LENGTH,
                 env_kwargs: dict | None = None):
        if name not in ATARI_GAMES:
            raise ValueError(f"unknown Atari game {name!r}; known: {sorted(ATARI_GAMES)}")
        if backend != "ale":
            raise ValueError(f"Atari games run on backend 'ale' (ale-py), got {backend!r}")
        if env_kwargs:
            raise ValueError(f"'env_kwargs.{name}': Atari games have no settable arguments (the authors' "
                             f"envpool settings are fixed), got {env_kwargs!r}")
        self.name, self.backend = name, backend
        self.episode_length = int(episode_length)
        self.env_kwargs = {}
        probe = AtariGameEnv(name, REFERENCE_SEED, mode="eval")
        self.obs_shape = probe.obs_shape
        self.action_names = probe.action_names
        self.spec = EnvSpec(suite=self.suite, name=name, obs_dim=probe.obs_dim, act_dim=probe.n_actions,
                            episode_length=self.episode_length, backend=backend)
        probe.reset()
        self._reference = probe.snapshot()

    def host_env_factory(self, seeds, mode: str = "train"):
        """``make(i)``: copy i of a batch, its resets drawn with seed ``seeds[i]`` in ``mode``
        ("train": up to 30 NOOPs, a life-loss reset continues the game; "eval": the
        authors' evaluation reset; "eval_continue": the authors' evaluation reset, a
        life-loss reset continues the game). Picklable: worker processes build their own copies."""
        if mode not in MODES:
            raise ValueError(f"Atari copy mode must be one of {list(MODES)}, got {mode!r}")
        return functools.partial(make_game_env, self.name, tuple(int(s) for s in seeds), mode)

    def reference_state(self) -> np.ndarray:
        """s_I: the snapshot of an eval-mode copy reset with seed :data:`REFERENCE_SEED`."""
        return self._reference.copy()
