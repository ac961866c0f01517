"""E11 (paper A.6): Atari games through ale-py, stepped on the host.

The copy (envpool's preprocessing: 84x84x4 uint8 frames, minimal action set, no-op and FIRE
resets, episodic life, clipped rewards), its seeding (training resets differ by seed,
evaluation resets do not), exact snapshots (a restored copy continues bit-identically,
whatever its own seed), the suite adapter's checks, and the host batch (worker processes
step the same numbers as this process).
"""

import pickle

import numpy as np
import pytest

from retland.base.atari import (ATARI_GAMES, OBS_SHAPE, REFERENCE_SEED, SNAPSHOT_SIZE, AtariEnv, AtariGameEnv,
                                resize_area)
from retland.base.host import HostBatch

PAPER_GAMES = ["qbert", "mspacman", "breakout", "seaquest"]


def _play(env, actions, reset_on_end=True):
    """(obs, reward, terminated) per action; a terminated step is followed by a reset (its
    observation recorded as (obs, 0.0, None))."""
    out = []
    for a in actions:
        o, r, t = env.step(a)
        out.append((o, r, t))
        if t and reset_on_end:
            out.append((env.reset(), 0.0, None))
    return out


def _assert_same(xs, ys):
    assert len(xs) == len(ys)
    for (o, r, t), (p, q, u) in zip(xs, ys):
        np.testing.assert_array_equal(o, p)
        assert r == q and t == u


def test_the_paper_games_with_their_action_sets():
    assert set(PAPER_GAMES) <= set(ATARI_GAMES)
    sizes = {n: AtariEnv(n).spec.act_dim for n in PAPER_GAMES}
    assert sizes == {"qbert": 6, "mspacman": 9, "breakout": 4, "seaquest": 18}  # minimal action sets
    env = AtariEnv("breakout")
    assert env.spec.suite == "atari" and env.spec.backend == "ale" and env.host_stepped
    assert env.spec.obs_dim == 84 * 84 * 4 and env.obs_shape == (84, 84, 4)
    assert env.action_names == ("NOOP", "FIRE", "RIGHT", "LEFT")


def test_observations_are_stacked_84x84_uint8_frames():
    e = AtariGameEnv("breakout", 0)
    o = e.reset()
    assert o.shape == OBS_SHAPE == (84, 84, 4) and o.dtype == np.uint8
    assert all(np.array_equal(o[..., 0], o[..., k]) for k in range(4))  # a new game fills the stack
    prev = o
    for a in [1, 2, 2, 3]:
        o, r, t = e.step(a)
        assert o.shape == (84, 84, 4) and o.dtype == np.uint8 and isinstance(r, float) and isinstance(t, bool)
        np.testing.assert_array_equal(o[..., :3], prev[..., 1:])  # oldest first, newest last
        prev = o
    assert o.max() > 0
    # a step: the action for 4 frames, the newest frame the max of the last two screens, resized
    b = AtariGameEnv("breakout", 5)
    b.restore(e.snapshot())
    for _ in range(2):
        b.ale.act(b.actions[2])
    screens = []
    for _ in range(2):
        b.ale.act(b.actions[2])
        screens.append(b.ale.getScreenGrayscale())
    o = e.step(2)[0]
    np.testing.assert_array_equal(o[..., -1], resize_area(np.maximum(*screens)))
    assert not np.array_equal(screens[0], screens[1])


def test_area_resize_is_exact_block_averaging():
    x = np.zeros((210, 160), np.uint8)
    x[:5, :40] = 200  # exactly the first 2x21 output cells (210/84 = 5/2, 160/84 = 40/21)
    y = resize_area(x)
    assert (y[:2, :21] == 200).all() and (y[2:] == 0).all() and (y[:, 21:] == 0).all()
    np.testing.assert_array_equal(resize_area(np.full((210, 160), 77, np.uint8)), 77)


def test_the_same_seed_and_actions_give_the_same_trajectory():
    acts = np.random.default_rng(0).integers(4, size=150)
    runs = []
    for _ in range(2):
        e = AtariGameEnv("breakout", 11)
        runs.append([(e.reset(), 0.0, None)] + _play(e, acts))
    _assert_same(*runs)


def test_training_resets_differ_by_seed_and_evaluation_resets_do_not():
    frames = set()
    for seed in range(6):
        e = AtariGameEnv("qbert", seed)
        e.reset()
        frames.add(e.ale.getEpisodeFrameNumber())  # 1..30 no-ops (one fewer, then FIRE)
    assert len(frames) > 1
    e = AtariGameEnv("qbert", 3)
    counts = set()
    for _ in range(8):  # one copy's successive training resets draw again
        e.reset()
        counts.add(e.ale.getEpisodeFrameNumber())
    assert len(counts) > 1
    ev = [AtariGameEnv("qbert", s, mode="eval") for s in (5, 5, 6)]
    obs = [x.reset() for x in ev]
    np.testing.assert_array_equal(obs[0], obs[1])
    np.testing.assert_array_equal(obs[0], obs[2])  # no randomness at all in an evaluation reset
    np.testing.assert_array_equal(ev[0].snapshot(), ev[1].snapshot())
    assert len({x.ale.getEpisodeFrameNumber() for x in ev}) == 1
    ref = AtariEnv("qbert").reference_state()
    np.testing.assert_array_equal(ref, _reset_snapshot("qbert", REFERENCE_SEED))


def _reset_snapshot(name, seed):
    e = AtariGameEnv(name, seed, mode="eval")
    e.reset()
    return e.snapshot()


@pytest.mark.parametrize("name", ["breakout", "seaquest"])
def test_a_restored_snapshot_continues_bit_identically_in_a_copy_with_another_seed(name):
    a, b = AtariGameEnv(name, 1), AtariGameEnv(name, 2)
    rng = np.random.default_rng(0)
    a.reset()
    b.reset()
    pre = _play(a, rng.integers(a.n_actions, size=20))
    snap = a.snapshot()
    assert snap.shape == (SNAPSHOT_SIZE,) and snap.dtype == np.float64
    acts = rng.integers(a.n_actions, size=250)
    ra = _play(a, acts) + [(a.reset(), 0.0, None)]  # later resets draw from the restored stream
    np.testing.assert_array_equal(b.restore(snap), pre[-1][0])
    rb = _play(b, acts) + [(b.reset(), 0.0, None)]
    _assert_same(ra, rb)
    np.testing.assert_array_equal(a.snapshot(), b.snapshot())
    if name == "breakout":  # random play loses Breakout lives quickly: the stretch held some
        assert sum(t is True for _, _, t in ra) >= 2


def test_restore_returns_the_observation_and_refuses_foreign_vectors():
    a = AtariGameEnv("breakout", 0)
    o = a.reset()
    o = a.step(1)[0]
    b = AtariGameEnv("breakout", 9)
    np.testing.assert_array_equal(b.restore(a.snapshot()), o)
    with pytest.raises(ValueError, match="Atari snapshot is"):
        b.restore(np.zeros(3))
    with pytest.raises(ValueError, match="snapshot of Atari breakout cannot be restored into a copy of pong"):
        AtariGameEnv("pong", 0).restore(a.snapshot())


def test_episodic_life_ends_at_the_first_life_lost_and_training_resets_continue_the_game():
    e = AtariGameEnv("breakout", 4)  # NOOPs after the FIRE of the reset: the ball is missed
    e.reset()
    assert e.ale.lives() == 5
    for n in range(1, 500):
        _, _, t = e.step(0)
        if t:
            break
    assert t and e.ale.lives() == 4 and not e.ale.game_over()
    snap = e.snapshot()
    e.reset()  # training: the same game goes on (one life fewer)
    assert e.ale.lives() == 4
    c = AtariGameEnv("breakout", 8)
    c.restore(snap)  # the snapshot knows that a life was just lost
    c.reset()
    assert c.ale.lives() == 4
    ev = AtariGameEnv("breakout", 4, mode="eval")
    ev.restore(snap)
    ev.reset()  # evaluation: a new game
    assert ev.ale.lives() == 5
    # without episodic life the same steps do not end there
    f = AtariGameEnv("breakout", 4, episodic_life=False)
    f.reset()
    assert not any(f.step(0)[2] for _ in range(n))
    assert f.ale.lives() == 4
    # a whole game under episodic life: five terminations, and resets continue it until it is over
    g = AtariGameEnv("breakout", 4)
    g.reset()
    lives = []
    for _ in range(5):
        while not g.step(0)[2]:
            pass
        lives.append(g.ale.lives())
        g.reset()
    assert lives == [4, 3, 2, 1, 0] and g.ale.lives() == 5  # the last reset started a new game


def test_the_authors_evaluation_env_continues_the_game_after_a_life_lost():
    """mode "eval_continue" (envpool 0.8.1's Reset with episodic_life, noop_max=1): a reset
    after a life lost keeps the game (one life fewer) where "eval" starts a new one, and it
    draws nothing: the same snapshot continues the same way in copies of any seed."""
    a = AtariGameEnv("breakout", 4, mode="eval_continue")
    a.reset()
    while not a.step(0)[2]:
        pass
    assert a.ale.lives() == 4
    snap = a.snapshot()
    runs = []
    for seed in (1, 2):
        b = AtariGameEnv("breakout", seed, mode="eval_continue")
        b.restore(snap)
        runs.append([b.reset()] + [b.step(0)[0] for _ in range(20)])
        assert b.ale.lives() == 4
    for x, y in zip(*runs):
        np.testing.assert_array_equal(x, y)
    ev = AtariGameEnv("breakout", 4, mode="eval")
    ev.restore(snap)
    ev.reset()
    assert ev.ale.lives() == 5


class _ScriptedCopy:
    """A fake Atari copy with envpool's episodic-life semantics for the rollout loop: the
    action names a script of (reward, done) per *step*; a reset continues the script (the game
    goes on) and is recorded."""

    SCRIPTS = {
        # group 0: never done on the same call, so both run horizon + 1 calls
        0: [(1, 0), (1, 1), (1, 0), (1, 0), (1, 1), (1, 0), (1, 0), (1, 0)],
        1: [(1, 0), (0, 0), (1, 0), (1, 1), (1, 0), (1, 0), (1, 0), (1, 0)],
        # group 1: both done on the third call: the group stops there
        2: [(1, 0), (1, 0), (1, 1), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0)],
        3: [(0, 0), (0, 0), (1, 1), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0)],
    }
    obs_dim, act_dim = 1, 1

    def __init__(self, mode):
        self.mode, self.t, self.calls = mode, 0, []

    def reset(self):
        self.calls.append("reset")
        return np.zeros(1, np.float32)

    def step(self, a):
        r, d = self.SCRIPTS[int(a)][self.t]
        self.calls.append(self.t)
        self.t += 1
        return np.zeros(1, np.float32), float(r), bool(d)

    def snapshot(self):
        return np.array([float(self.t)])

    def restore(self, s):
        self.t, self.calls = int(s[0]), []
        return np.zeros(1, np.float32)


def _scripted(seeds, mode="train"):
    import functools

    return functools.partial(lambda mode, i: _ScriptedCopy(mode), mode)


class _ScriptedGame:
    suite = "atari"
    host_stepped = True
    host_env_factory = staticmethod(_scripted)


def test_the_authors_return_is_their_evaluate_policy_loop():
    """The authors' return (eval_policy/experiments/utils.py l. 83-97 on envpool), by hand for
    a horizon of 7 (8 environment calls: ``count > max_len`` breaks after the step):
    copy 0: +1, life lost (its +1 dropped), reset, +1, +1, life lost (dropped), reset, +1 = 4;
    copy 1: +1, 0, +1, life lost (dropped), reset, +1, +1, +1 = 5; copies 2 and 3 are done on
    the same call (3) and are one group: that group stops there (+1 +1 = 2, and 0), while the
    first group runs on. The first-life return counts the terminating step's reward and
    stops: 2, 3, 3, 1."""
    from retland.rollout import HostRollout

    game = _ScriptedGame()
    apply = lambda p, obs: p["id"]  # noqa: E731  (the action names the copy's script)
    params = {"id": np.arange(4, dtype=np.int32)}
    roll = HostRollout(game, apply, 7, 4, return_definition="authors")
    ret, length = roll(params, np.zeros(1), groups=[0, 0, 1, 1])
    np.testing.assert_array_equal(ret, [4, 5, 2, 0])
    np.testing.assert_array_equal(length, [8, 8, 3, 3])
    copies = roll.batch._local.envs
    assert {c.mode for c in copies} == {"eval_continue"}  # the authors' evaluation env: lives go on
    assert copies[0].calls == [0, 1, "reset", 2, 3, 4, "reset", 5]  # a done copy is reset, not stepped
    assert copies[1].calls == [0, 1, 2, 3, "reset", 4, 5, 6]
    assert copies[3].calls == [0, 1, 2]
    # one group of all four (the default): never all done on one call, so all run 8 calls
    ret, length = roll(params, np.zeros(1))
    np.testing.assert_array_equal(ret, [4, 5, 1 + 1 + 0 + 1 + 1 + 1 + 1, 0 + 0 + 0 + 1 + 1 + 1 + 1])
    np.testing.assert_array_equal(length, [8, 8, 8, 8])
    first = HostRollout(game, apply, 7, 4)
    ret, length = first(params, np.zeros(1))
    np.testing.assert_array_equal(ret, [2, 3, 3, 1])
    np.testing.assert_array_equal(length, [2, 4, 3, 3])
    with pytest.raises(ValueError, match="return_definition"):
        HostRollout(game, apply, 7, 4, return_definition="lives")
    with pytest.raises(ValueError, match="'authors' only"):
        first(params, np.zeros(1), groups=[0, 0, 1, 1])


def test_rewards_are_clipped_to_their_sign():
    acts = np.random.default_rng(1).integers(6, size=300)
    raw = _play(AtariGameEnv("qbert", 0, reward_clip=False), acts, reset_on_end=False)
    clipped = _play(AtariGameEnv("qbert", 0), acts, reset_on_end=False)
    r, c = np.array([x[1] for x in raw]), np.array([x[1] for x in clipped])
    assert r.max() > 1  # Qbert scores 25 a cube
    np.testing.assert_array_equal(c, np.sign(r))
    assert set(np.unique(c)) <= {-1.0, 0.0, 1.0}


def test_bad_games_arguments_and_actions_are_refused():
    with pytest.raises(ValueError, match="unknown Atari game 'pacman'"):
        AtariEnv("pacman")
    with pytest.raises(ValueError, match="unknown Atari game 'tetris'"):
        AtariGameEnv("tetris", 0)
    with pytest.raises(ValueError, match="env_kwargs.breakout"):
        AtariEnv("breakout", env_kwargs={"frame_skip": 2})
    with pytest.raises(ValueError, match="backend 'ale'"):
        AtariEnv("breakout", backend="spring")
    with pytest.raises(ValueError, match="mode"):
        AtariGameEnv("breakout", 0, mode="test")
    with pytest.raises(ValueError, match="seed"):
        AtariGameEnv("breakout", -1)
    e = AtariGameEnv("breakout", 0)
    e.reset()
    for bad in (4, -1, 1.5, np.nan, np.inf, True, np.array([0, 1]), "FIRE"):
        with pytest.raises(ValueError, match="action"):
            e.step(bad)
    for good in (3, np.int64(2), np.float32(1.0), np.array([0])):
        e.step(good)


def test_the_factory_is_picklable_and_workers_step_the_same_numbers():
    env = AtariEnv("breakout")
    make = pickle.loads(pickle.dumps(env.host_env_factory([3, 4, 5])))
    c = make(1)
    assert isinstance(c, AtariGameEnv) and c.mode == "train"
    assert env.host_env_factory([0], mode="eval")(0).mode == "eval"
    acts = np.random.default_rng(2).integers(env.spec.act_dim, size=(120, 3))
    out = []
    for workers in (1, 2):
        with HostBatch(env.host_env_factory([3, 4, 5]), 3, workers) as b:
            rec, o = [], b.reset()
            rec.append(o)
            for a in acts:
                o, r, t = b.step(a)
                rec.append((o, r, t))
                if t.any():
                    o = b.reset(t, fill=o)
                    rec.append(o)
            out.append((rec, b.snapshot()))
    (r1, n1), (r2, n2) = out
    assert n1.shape == (3, SNAPSHOT_SIZE)
    np.testing.assert_array_equal(n1, n2)
    assert len(r1) == len(r2) > len(acts) + 1  # some copies lost a life and were reset
    for x, y in zip(r1, r2):
        for u, v in zip(x if isinstance(x, tuple) else (x,), y if isinstance(y, tuple) else (y,)):
            np.testing.assert_array_equal(u, v)
    with HostBatch(env.host_env_factory([0, 0]), 2, workers=2) as b:  # s_I into every copy
        o = b.restore(env.reference_state())
        np.testing.assert_array_equal(o[0], o[1])
