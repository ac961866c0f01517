"""`make bench`: throughput measured side by side in one run (never in tests).

1. Post-update estimator (N fused updates + rollouts) against the bare vmapped rollout
   of the very same updated policies (the ceiling), same task, backend and horizon, for
   each algorithm (TD3, SAC, PPO); and TD3/SAC with 64x64 networks on short episodes (165
   steps: hopper without termination, horizon 165), where the updates' cost shows most.
2. Training: environment steps per second per seed with 1 seed and with several seeds
   vmapped in one job, for each algorithm; and TD3/SAC against rejax 0.1.3's TD3 on the
   same task, sizes and schedule (``--only-rejax``; rejax lives in ``.venv-rejax``,
   ``make bench-rejax-venv``), alternating fresh processes.
3. DeepMind Control (host-stepped, E10): the estimator against the bare host rollout of the
   same updated policies, the host rollout's env-steps/s against one dm-control environment
   in a plain loop, and host-stepped training throughput.
4. Atari (host-stepped, E11, PPO): the Nature CNN's patch convolutions against flax's
   convolutions, the estimator against the bare host rollout of the same updated policies,
   and training frames/s.
5. Instruction set (``--only-isa`` / ``--isa``): TD3 training and the post-update estimator
   under the pinned ``--xla_cpu_max_isa=AVX2`` against native, 64x64 and 2x256, alternating
   fresh processes (docs/numbers-that-travel.md).
6. Profile (``--profile``, :mod:`retland.profiling`): where a training chunk and an
   estimator call spend their time (docs/profile.md).

Every row runs with the XLA CPU threads of ``--threads`` (default ``RETLAND_XLA_CPU_THREADS``,
unset: XLA's one per core; ``runtime.start_cpu_backend``).

Usage: python -m retland.bench [--algos td3,sac,ppo] [--env hopper] [--backend spring] [--n 200]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import time

from .base.gl import configure_mujoco_gl
from .runtime import add_xla_cpu_flags

add_xla_cpu_flags()
configure_mujoco_gl()  # a MUJOCO_GL=osmesa that cannot load must not break `import brax`
import jax  # noqa: E402

from .profiling import fake_replay as _fake_replay, train_chunks  # noqa: E402,F401


def _time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` (which must block) over ``repeats`` calls."""
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _side_by_side(estimate, bare, n, repeats, ratios=None):
    """(estimator policies/s, bare policies/s, mean episode length): both compiled first, then
    timed interleaved so both see the same machine state; ``estimate()`` returns (returns,
    lengths) of the ``n`` policies. ``ratios``: a list that gets each round's estimator / bare."""
    import numpy as np

    _, lengths = jax.block_until_ready(estimate())
    jax.block_until_ready(bare())
    t_est, t_bare = [], []
    for _ in range(repeats):
        t_bare.append(_time(lambda: jax.block_until_ready(bare()), 1))
        t_est.append(_time(lambda: jax.block_until_ready(estimate()), 1))
    if ratios is not None:
        ratios.extend(b / e for b, e in zip(t_bare, t_est))
    return n / statistics.median(t_est), n / statistics.median(t_bare), float(np.mean(np.asarray(lengths)))


def bench_post_update(algo, env_name, backend, n, *, horizon, repeats, replay_rows=20_000, overrides=None,
                      env_kwargs=None, ratios=None):
    """(estimator policies/s, bare-rollout policies/s, mean episode length) for ``algo``.

    The bare rollout evaluates the very same updated policies, so both see the same
    episode lengths (rollouts stop once every episode of the batch has ended). ``ratios``:
    see :func:`_side_by_side`."""
    from .agents import get_agent
    from .analyses.post_update import make_estimator
    from .analyses.source import Source
    from .base.envs import make_env
    from .rollout import make_batched_rollout

    agent = get_agent(algo)
    cfg = agent.Config.from_dict(overrides or {})
    env = make_env(env_name, backend, env_kwargs=env_kwargs) if env_kwargs else make_env(env_name, backend)
    spec = env.spec
    state = agent.init(jax.random.PRNGKey(0), spec.obs_dim, spec.act_dim, cfg)
    replay = _fake_replay(spec, replay_rows) if agent.UPDATE_KIND != "ppo_update" else None
    if algo == "ppo":  # its post-update continues from the training environments of a checkpoint
        state = agent.with_fresh_saved_envs(state, env, cfg, jax.random.PRNGKey(3))
    start = env.reference_state()
    keys = jax.random.split(jax.random.PRNGKey(2), n)
    est = make_estimator(Source(agent, env, cfg), horizon)
    params = est.updates(keys, state, replay, 0, replay_rows)  # the very policies the estimator rolls out
    bare = make_batched_rollout(env, agent.make_policy(spec.act_dim, cfg), horizon)
    return _side_by_side(lambda: est(keys, state, replay, 0, replay_rows, start), lambda: bare(params, start),
                         n, repeats, ratios)


def bench_checkpoint(train_path, step, n, horizon, repeats, workers=2):
    """The same comparison on a trained checkpoint of a finished run (its agent, task variant,
    replay buffer and real episode lengths): (estimator policies/s, bare policies/s, mean
    episode length). ``workers``: processes stepping a host-stepped task (DMC)."""
    from .analyses.post_update import make_estimator
    from .jobs.sources import CheckpointSource
    from .rollout import make_evaluator

    src = CheckpointSource(train_path)
    state, (lo, hi) = src.checkpoint(step)
    agent, env, cfg, replay = src.agent, src.env, src.cfg, src.replay
    start = env.reference_state()
    keys = jax.random.split(jax.random.PRNGKey(2), n)
    est = make_estimator(src, horizon, n, workers)
    params = est.updates(keys, state, replay, lo, hi)
    bare = make_evaluator(env, agent.make_policy(env.spec.act_dim, cfg), horizon, n, workers)
    return _side_by_side(lambda: est(keys, state, replay, lo, hi, start), lambda: bare(params, start), n, repeats)


def bench_short_episodes(algos, n, horizon, repeats, replay_rows=150_000):
    """Estimator vs bare rollout where the updates' cost shows most: 64x64 networks (the
    default config's) and episodes of ``horizon`` steps (hopper without termination, so every
    rollout runs ``horizon`` steps, as a trained hopper's ~165-step episodes do; a 150k-row
    buffer). Prints one row per algorithm; returns {algo: (estimator, bare, length)}."""
    print(f"\nshort episodes: post-update estimator vs bare rollout of the same updated policies, 64x64 networks, "
          f"hopper without termination, horizon {horizon}, N {n}, median of {repeats} (policies/s)")
    print(f"  {'algo':5s} {'N':>5s} {'estimator':>12s} {'bare rollout':>14s} {'ratio':>7s} {'rounds':>13s} "
          f"{'env-steps/s (est.)':>19s}")
    out = {}
    for algo in algos:
        r = []
        e, b, length = bench_post_update(algo, "hopper", "spring", n, horizon=horizon, repeats=repeats,
                                         replay_rows=replay_rows, overrides={"hidden": [64, 64]},
                                         env_kwargs=NO_TERM, ratios=r)
        out[algo] = (e, b, length)
        print(f"  {algo:5s} {n:5d} {e:12,.1f} {b:14,.1f} {e / b:7.3f} {min(r):6.3f}-{max(r):.3f} "
              f"{e * length:19,.0f}", flush=True)
    print("  (docs/profile.md: the N updates' flops put a floor under the estimator's time)")
    return out


def bench_train(algo, env_name, backend, seeds_list, steps, overrides=None, env_kwargs=None):
    """{n_seeds: env-steps/s per seed} of ``algo``'s jitted training after a warm-up chunk
    (learning from the first step for TD3/SAC)."""
    from .agents import get_agent
    from .base.envs import make_env

    agent = get_agent(algo)
    env = make_env(env_name, backend, env_kwargs=env_kwargs) if env_kwargs else make_env(env_name, backend)
    learns_late = "learning_starts" in agent.Config.__dataclass_fields__
    cfg = agent.Config.from_dict({**(overrides or {}), **({"learning_starts": 1} if learns_late else {})})
    out = {}
    for n_seeds in seeds_list:
        advance, env_steps = train_chunks(agent, env, cfg, range(n_seeds), steps)
        advance()  # warm-up (compilation)
        t = time.perf_counter()
        advance()
        out[n_seeds] = env_steps / (time.perf_counter() - t)
    return out


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: the optional virtual environment of the rejax comparison (git-ignored; ``make bench-rejax-venv``)
REJAX_VENV = os.path.join(REPO, ".venv-rejax")
REJAX_INSTALL = ("make bench-rejax-venv  (python3 -m venv .venv-rejax && .venv-rejax/bin/pip install rejax==0.1.3 "
                 "gymnax==0.0.9 and this lock's jax, jaxlib, flax, optax, brax, mujoco, numpy)")


def train_worker(algo: str, steps: int, buffer: int, repeats: int) -> dict:
    """One process's measurement of the rejax comparison: ``algo``'s training env-steps/s
    (hopper, spring, 1 seed, 64x64, batch 256, learning from the first step, a ring buffer of
    ``buffer`` rows), median of ``repeats`` chunks of ``steps`` after a warm-up chunk."""
    from .agents import get_agent
    from .base.envs import make_env
    from .portability import cpu_threads

    agent = get_agent(algo)
    env = make_env("hopper", "spring")
    cfg = agent.Config.from_dict({"hidden": [64, 64], "batch_size": 256, "learning_starts": 1})
    advance, env_steps = train_chunks(agent, env, cfg, [0], steps, total=max(1, -(-buffer // steps)) * steps)
    advance()  # warm-up (compilation)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        advance()
        times.append(time.perf_counter() - t)
    return {"rate": env_steps / statistics.median(times), "rates": [env_steps / x for x in times],
            "threads": cpu_threads()}


def rejax_python() -> str | None:
    """The rejax venv's interpreter (``RETLAND_REJAX_PYTHON`` or ``.venv-rejax``), None if absent."""
    py = os.environ.get("RETLAND_REJAX_PYTHON") or os.path.join(REJAX_VENV, "bin", "python")
    return py if os.path.exists(py) else None


def bench_rejax(algos=("td3", "sac"), *, steps: int = 1000, buffer: int = 20_000, rounds: int = 3,
                repeats: int = 3, threads=(None,)) -> dict:
    """This project's TD3/SAC training against rejax 0.1.3's TD3 (:mod:`retland.rejax_worker`)
    on the same task, network sizes and update schedule: every measurement a fresh process,
    this project's and rejax's alternated (A B A B ...) in ``rounds`` rounds, each process the
    median of ``repeats`` chunks of ``steps`` after a warm-up; for each XLA CPU thread setting
    in ``threads`` (None: XLA's default, one per core; n: ``RETLAND_XLA_CPU_THREADS=n`` for both
    sides). Prints the rates (median and range over rounds) and the ratios to rejax (median of
    the rounds' ratios, range). Returns {setting: {name: [rates]}}; {} where rejax is absent."""
    import json
    import subprocess
    import sys

    from .portability import THREADS_ENV

    print(f"\ntraining against rejax 0.1.3 (TD3): hopper (spring), 1 seed, 64x64 ReLU networks, batch 256, one "
          f"critic update per env step, actor and targets every 2nd, ring buffer {buffer:,} rows; alternating "
          f"fresh processes, {rounds} rounds x median of {repeats} chunks of {steps} steps (env-steps/s)", flush=True)
    py = rejax_python()
    if py is None:
        print(f"  rejax not installed: {REJAX_INSTALL}")
        return {}
    src = os.path.join(REPO, "src")
    out = {}
    for setting in threads:
        env = {k: v for k, v in os.environ.items() if k != THREADS_ENV}
        if setting is not None:
            env[THREADS_ENV] = str(setting)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        got = collections.defaultdict(list)
        size = ["--buffer", str(buffer), "--repeats", str(repeats)]
        runs = [(f"this project {a}", [sys.executable, "-m", "retland.bench", "--train-worker", a, "--train-steps",
                                       str(steps)] + size) for a in algos]
        runs.append(("rejax 0.1.3 td3", [py, "-m", "retland.rejax_worker", "--steps", str(steps)] + size))
        for _ in range(rounds):
            for name, cmd in runs:
                p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
                if p.returncode != 0:
                    print(f"  {name} failed (exit {p.returncode}):\n    " + "\n    ".join(p.stderr.splitlines()[-8:]))
                    return out
                got[name].append(json.loads(p.stdout.strip().splitlines()[-1])["rate"])
        label = "XLA's default (one per core)" if setting is None else f"{setting} ({THREADS_ENV}={setting})"
        print(f"  XLA CPU threads: {label}")
        ref = got["rejax 0.1.3 td3"]
        for name, rates in got.items():
            line = f"    {name:22s} {statistics.median(rates):8,.0f}  [{min(rates):,.0f}-{max(rates):,.0f}]"
            if name != "rejax 0.1.3 td3":
                r = [a / b for a, b in zip(rates, ref)]
                line += (f"   {statistics.median(r):5.2f}x rejax's TD3 (rounds {' '.join(f'{x:.2f}' for x in r)})")
            print(line, flush=True)
        out[setting] = dict(got)
    print("  (target: >= 2x rejax's TD3 rate)")
    return out


def bench_dmc(task, algos, n, horizon, repeats, workers, seeds_list, train_steps):
    """E10, a host-stepped suite: (1) the post-update estimator (N jitted updates, then the
    host rollout) against the bare host rollout of the same updated policies, (2) the host
    rollout's env-steps/s against one dm-control environment stepped in a plain Python loop,
    (3) host-stepped training env-steps/s per seed. Networks as Table 1 (2x256)."""
    import numpy as np

    from .agents import get_agent
    from .analyses.post_update import make_estimator
    from .analyses.source import Source
    from .base.dmc import DMCTaskEnv
    from .base.envs import make_env
    from .rollout import HostRollout

    env = make_env(task)
    spec = env.spec
    start = env.reference_state()
    print(f"\nDeepMind Control {task} (host-stepped, {workers} worker process(es); obs {spec.obs_dim}, "
          f"act {spec.act_dim}; horizon {horizon}, median of {repeats})")
    plain = DMCTaskEnv(task, 0)
    plain.restore(start)
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (horizon, spec.act_dim))
    t_plain = _time(lambda: [plain.step(a) for a in acts], repeats)
    plain_rate = horizon / t_plain
    print(f"  one dm-control environment, plain loop: {plain_rate:10,.0f} env-steps/s")
    print(f"  {'algo':5s} {'N':>5s} {'estimator':>12s} {'bare rollout':>14s} {'ratio':>7s} {'env-steps/s':>12s} "
          f"{'vs plain loop':>14s}")
    for algo in algos:
        agent = get_agent(algo)
        cfg = agent.Config.from_dict({})
        state = agent.init(jax.random.PRNGKey(0), spec.obs_dim, spec.act_dim, cfg)
        replay = _fake_replay(spec, 20_000)
        keys = jax.random.split(jax.random.PRNGKey(2), n)
        est = make_estimator(Source(agent, env, cfg), horizon, n, workers)
        params = est.updates(keys, state, replay, 0, 20_000)
        bare = HostRollout(env, agent.make_policy(spec.act_dim, cfg), horizon, n, workers)
        e, b, length = _side_by_side(lambda: est(keys, state, replay, 0, 20_000, start), lambda: bare(params, start),
                                     n, repeats)
        rate = b * length
        print(f"  {algo:5s} {n:5d} {e:12,.2f} {b:14,.2f} {e / b:7.3f} {rate:12,.0f} {rate / plain_rate:13.2f}x",
              flush=True)
        est.rollout.close()
        bare.close()
    print("  (policies/s; ratio target >= 0.9)")
    print(f"  training, host-stepped (one jitted call per environment step; env-steps/s per seed, "
          f"{train_steps} steps after a warm-up)")
    for algo in algos:
        agent = get_agent(algo)
        cfg = agent.Config.from_dict({"learning_starts": 1})
        for s in seeds_list:
            setup = agent.training_setup(env, cfg, list(range(s)), 10 * train_steps, [10 * train_steps],
                                         train_steps, lambda m: None)
            carry, _ = setup.loop.advance(setup.carry, 0, 20)
            t = time.perf_counter()
            setup.loop.advance(carry, 20, 20 + train_steps)
            r = train_steps / (time.perf_counter() - t)
            print(f"  {algo:5s} {s:2d} seed(s): {r:10,.0f} per seed  {r * s:10,.0f} in total", flush=True)
            setup.loop.batch.close()
    return 0


def bench_atari(game, n, horizon, repeats, workers, seeds_list, train_iters, overrides=None):
    """E11, PPO on an Atari game (host-stepped): (1) the Nature CNN's forward and gradient
    with :class:`retland.agents.ppo.networks.PatchConv` against flax's ``nn.Conv`` (the same
    layers), side by side; (2) the post-update estimator (per sample a fresh collection from
    the saved training environments, one full PPO update, then the greedy host rollout)
    against the bare host rollout of the same updated policies; (3) training frames/s (4
    frames per agent step) with 1 and several seeds. ``overrides``: PPO hyperparameters over
    the Atari defaults (default: the paper's CNN and CleanRL's 8 x 128 batch)."""
    import flax.linen as nn
    import jax.numpy as jnp
    import numpy as np

    from .agents import get_agent
    from .agents.ppo.networks import NatureCNN, PatchConv
    from .agents.ppo.state import SavedEnvs
    from .analyses.post_update import make_estimator
    from .analyses.source import Source
    from .base.atari import FRAME_SKIP
    from .base.envs import make_env
    from .rollout import HostRollout

    ppo = get_agent("ppo")
    cfg = ppo.Config.from_dict({**ppo.SUITE_DEFAULTS["atari"], "anneal_lr_steps": 0, **(overrides or {})})
    env = make_env(game, episode_length=27_000)
    spec = env.spec
    print(f"\nAtari {game} (PPO, host-stepped, {workers} worker process(es); {spec.act_dim} actions; CNN "
          f"{list(cfg.cnn_channels)}/{cfg.cnn_dense}; batch {cfg.num_envs}x{cfg.unroll_length}; median of {repeats})")

    class FlaxCNN(NatureCNN):  # the same torso with flax's convolutions
        @nn.compact
        def __call__(self, obs):
            x = obs.reshape((-1, 84, 84, 4)).astype(jnp.float32) / 255.0
            for i, (c, k, st) in enumerate(zip(self.channels, (8, 4, 3), (4, 2, 1))):
                x = nn.relu(nn.Conv(c, (k, k), (st, st), padding="VALID", name=f"Conv_{i}")(x))
            return nn.relu(nn.Dense(self.dense)(x.reshape((x.shape[0], -1))))

    frames = jnp.asarray(np.random.default_rng(0).integers(0, 256, (256, 84 * 84 * 4)), jnp.uint8)
    mine, ref = NatureCNN(tuple(cfg.cnn_channels), cfg.cnn_dense), FlaxCNN(tuple(cfg.cnn_channels), cfg.cnn_dense)
    params = mine.init(jax.random.PRNGKey(0), frames[:1])
    assert PatchConv  # the layer measured
    print(f"  Nature CNN on 256 frames: {'':10s} {'PatchConv':>10s} {'nn.Conv':>10s} {'speed-up':>9s}")
    for what, make in (("forward", lambda m: jax.jit(lambda p, x: m.apply(p, x).sum())),
                       ("gradient", lambda m: jax.jit(jax.grad(lambda p, x: m.apply(p, x).sum())))):
        f_mine, f_ref = make(mine), make(ref)
        jax.block_until_ready(f_mine(params, frames))
        jax.block_until_ready(f_ref(params, frames))
        t_m, t_r = [], []
        for _ in range(repeats):
            t_r.append(_time(lambda: jax.block_until_ready(f_ref(params, frames)), 1))
            t_m.append(_time(lambda: jax.block_until_ready(f_mine(params, frames)), 1))
        m, r = statistics.median(t_m), statistics.median(t_r)
        print(f"  {what:31s} {1e3 * m:8.1f}ms {1e3 * r:8.1f}ms {r / m:8.2f}x", flush=True)

    # (2) estimator vs bare rollout, from a checkpoint-like state: trained for two iterations
    setup = ppo.training_setup(env, cfg, [0], 2 * cfg.batch_size, [2 * cfg.batch_size], cfg.batch_size,
                               lambda m: None)
    carry, _ = setup.loop.advance(setup.carry, 0, 2)
    agent = jax.tree_util.tree_map(lambda x: x[0], carry.agent)
    h = carry.host
    state = agent._replace(env_state=SavedEnvs({"state": h.snapshot[0], "ep_t": h.ep_t[0], "ep_ret": h.ep_ret[0]}))
    setup.loop.batch.close()
    start = env.reference_state()
    keys = jax.random.split(jax.random.PRNGKey(2), n)
    est = make_estimator(Source(ppo, env, cfg), horizon, n, workers)
    updated = est.update_params(keys, state)
    bare = HostRollout(env, ppo.make_policy(spec.act_dim, cfg), horizon, n, workers)
    e, b, length = _side_by_side(lambda: est(keys, state, None, 0, 0, start), lambda: bare(updated, start), n, repeats)
    print(f"  post-update, N {n}, horizon {horizon}: estimator {e:8.2f} policies/s, bare rollout {b:8.2f} "
          f"(ratio {e / b:.3f}; mean episode {length:.0f} steps, {b * length * FRAME_SKIP:,.0f} frames/s)")
    print("  (an Atari update collects and learns from a whole batch: the ratio is far below 1 by design)")
    est.close()
    bare.close()

    # (3) training
    for s in seeds_list:
        setup = ppo.training_setup(env, cfg, list(range(s)), 100 * cfg.batch_size, [100 * cfg.batch_size],
                                   cfg.batch_size, lambda m: None)
        carry, _ = setup.loop.advance(setup.carry, 0, 1)
        jax.block_until_ready(carry.agent)
        t = time.perf_counter()
        carry, _ = setup.loop.advance(carry, 1, 1 + train_iters)
        jax.block_until_ready(carry.agent)
        r = train_iters * cfg.batch_size / (time.perf_counter() - t)
        print(f"  training, {s} seed(s): {r:8,.0f} agent steps/s per seed = {r * FRAME_SKIP:8,.0f} frames/s per seed, "
              f"{r * s * FRAME_SKIP:8,.0f} in total", flush=True)
        setup.loop.batch.close()
    return 0


def bench_run(run_dir, algos, n, horizon, repeats):
    """Estimator vs bare rollout on the last checkpoint of seed 0 of every (env, algo) trained
    in ``run_dir`` (`make bench BENCH_ARGS="--run results/default"`)."""
    import glob
    import os

    from .base.checkpoints import TrainFile

    print(f"post-update estimator vs bare rollout of the same updated policies, trained checkpoints of "
          f"{run_dir} (N {n}, horizon {horizon}, median of {repeats}; policies/s)")
    print(f"  {'task':12s} {'algo':5s} {'step':>7s} {'estimator':>12s} {'bare rollout':>14s} {'ratio':>7s} "
          f"{'mean ep. length':>16s}")
    found = 0
    for algo in algos:
        for path in sorted(glob.glob(os.path.join(run_dir, "train", "*", algo, "seed*.h5"))):
            if not path.endswith("seed0.h5"):
                continue
            with TrainFile(path) as tf:
                step = tf.checkpoint_steps[-1]
            env = path.split(os.sep)[-3]
            e, b, length = bench_checkpoint(path, step, n, horizon, repeats)
            print(f"  {env:12s} {algo:5s} {step:7d} {e:12,.1f} {b:14,.1f} {e / b:7.3f} {length:16.1f}", flush=True)
            found += 1
    if not found:
        raise SystemExit(f"no TD3/SAC training files under {run_dir}/train/*/<algo>/seed0.h5: run `make run` first")
    print("  (issue 26: >= 0.95 on short episodes; the N updates bound it: docs/profile.md, section 3)")
    return 0


NO_TERM = {"terminate_when_unhealthy": False}


def isa_worker(what: str, hidden, n: int, steps: int) -> float:
    """One measurement in this process (its XLA flags fixed at start): TD3 training
    env-steps/s (1 seed) or post-update estimator policies/s, hopper without termination."""
    ov = {"hidden": list(hidden)}
    if what == "train":
        return bench_train("td3", "hopper", "spring", [1], steps, overrides=ov, env_kwargs=NO_TERM)[1]
    return bench_post_update("td3", "hopper", "spring", n, horizon=1000, repeats=1, overrides=ov,
                             env_kwargs=NO_TERM)[0]


def bench_isa(sizes, n, steps, repeats, isas=("AVX2", "native")):
    """The pinned instruction set against native, side by side (docs/numbers-that-travel.md):
    each measurement in a fresh process (XLA's flags are fixed per process), the settings
    alternated A B A B; median per setting."""
    import json
    import os
    import subprocess
    import sys

    from .portability import CONSISTENCY_FLAGS, ISA_ENV, ISA_FLAG, ONEDNN_ENV

    ours = {ISA_FLAG} | {f.split("=")[0] for f in CONSISTENCY_FLAGS}
    base_flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split() if f.split("=")[0] not in ours)
    print(f"\nXLA CPU instruction set: {' vs '.join(isas)} (TD3, hopper without termination, 1 seed; "
          f"alternating fresh processes, median of {repeats})", flush=True)
    print(f"  {'what':34s} " + " ".join(f"{i:>10s}" for i in isas) + f" {'ratio':>7s}")
    for hidden in sizes:
        for what, unit in (("train", "env-steps/s"), ("estimator", "policies/s")):
            got = {i: [] for i in isas}
            for _ in range(repeats):
                for isa in isas:
                    env = {k: v for k, v in os.environ.items() if k != ONEDNN_ENV}
                    env.update({ISA_ENV: isa, "XLA_FLAGS": base_flags})
                    cmd = [sys.executable, "-m", "retland.bench", "--isa-worker", what, "--isa-hidden",
                           *map(str, hidden), "--n", str(n), "--train-steps", str(steps)]
                    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                    got[isa].append(json.loads(out.strip().splitlines()[-1])["rate"])
            med = {i: statistics.median(v) for i, v in got.items()}
            label = f"{what} {'x'.join(map(str, hidden))} ({unit})"
            print(f"  {label:34s} " + " ".join(f"{med[i]:10,.1f}" for i in isas)
                  + f" {med[isas[0]] / med[isas[-1]]:7.3f}", flush=True)
    print(f"  (ratio = {isas[0]} / {isas[-1]}: below 1, pinning costs speed; raw runs: "
          f"{ISA_ENV}=native opts out)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algos", default="td3,sac,ppo", help="comma-separated algorithms")
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--backend", default="spring")
    ap.add_argument("--n", type=int, default=200, help="post-update samples of TD3/SAC (one vmapped chunk)")
    ap.add_argument("--ppo-n", type=int, default=32, help="post-update samples of PPO (each collects its own batch)")
    ap.add_argument("--ppo-envs", type=int, default=256,
                    help="PPO num_envs (Table 1: 2048; its post-update batch is num_envs x 16 steps)")
    ap.add_argument("--horizon", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=4, help="vmapped seeds for the training benchmark")
    ap.add_argument("--train-steps", type=int, default=500,
                    help="timed TD3/SAC training steps (after a warm-up chunk); PPO: 16x as many env steps")
    ap.add_argument("--run", default=None,
                    help="a finished run's results folder (e.g. results/default): measure the estimator on its "
                         "TD3/SAC checkpoints (real policies and episode lengths) instead of the synthetic rows")
    ap.add_argument("--dmc", default="quadruped-walk", help="DeepMind Control task of the host-stepped rows "
                    "('' to skip)")
    ap.add_argument("--dmc-n", type=int, default=64, help="post-update samples of the DMC rows")
    ap.add_argument("--dmc-workers", type=int, default=2, help="worker processes stepping the DMC environments")
    ap.add_argument("--only-dmc", action="store_true", help="only the DMC rows")
    ap.add_argument("--atari", default="breakout", help="Atari game of the E11 rows ('' to skip)")
    ap.add_argument("--atari-n", type=int, default=8, help="post-update samples of the Atari rows")
    ap.add_argument("--atari-iters", type=int, default=2, help="timed PPO iterations of the Atari training rows")
    ap.add_argument("--atari-horizon", type=int, default=1000, help="Atari rollout horizon (agent steps)")
    ap.add_argument("--only-atari", action="store_true", help="only the Atari rows")
    ap.add_argument("--only-isa", action="store_true",
                    help="only the instruction-set rows: pinned AVX2 against native (docs/numbers-that-travel.md)")
    ap.add_argument("--isa", action="store_true", help="also the instruction-set rows")
    ap.add_argument("--isa-repeats", type=int, default=3)
    ap.add_argument("--isa-worker", choices=("train", "estimator"), help=argparse.SUPPRESS)
    ap.add_argument("--isa-hidden", type=int, nargs="+", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=None,
                    help="XLA CPU threads of every row (sets RETLAND_XLA_CPU_THREADS; default: as set, else one "
                         "per core)")
    ap.add_argument("--only-rejax", action="store_true", help="only the training rows against rejax 0.1.3")
    ap.add_argument("--rejax", default="1", help="'0' skips the rows against rejax in a full run")
    ap.add_argument("--rejax-threads", default="",
                    help="comma-separated XLA CPU thread settings of the rejax rows ('default' = one per core), "
                         "each for both sides (default: the bench's own)")
    ap.add_argument("--rejax-rounds", type=int, default=3, help="A B rounds of the rejax rows")
    ap.add_argument("--rejax-steps", type=int, default=1000, help="environment steps per timed chunk of the rejax rows")
    ap.add_argument("--rejax-buffers", default="20000,131072",
                    help="comma-separated ring buffer sizes (rows) of the rejax rows, the same for both sides "
                         "(20,000: the default config's TD3/SAC runs; 131,072: rejax's default)")
    ap.add_argument("--buffer", type=int, default=20_000, help=argparse.SUPPRESS)  # a worker's buffer
    ap.add_argument("--train-worker", choices=("td3", "sac"), help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help="the profile of docs/profile.md (retland.profiling)")
    ap.add_argument("--short-horizon", type=int, default=165,
                    help="episode length of the short-episode estimator rows (0 skips them)")
    a = ap.parse_args(argv)
    from .portability import THREADS_ENV, threads_setting
    from .runtime import start_cpu_backend

    if a.threads is not None:
        os.environ[THREADS_ENV] = str(a.threads)
    if a.profile:  # thunk counts: XLA's CPU trace events, before the backend starts
        from .profiling import TRACE_FLAG

        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TRACE_FLAG}".strip()
    start_cpu_backend()
    algos = [x.strip() for x in a.algos.split(",") if x.strip()]
    dmc_algos = [x for x in algos if x in ("td3", "sac")]
    rejax_threads = tuple(None if s.strip() == "default" else int(s) for s in a.rejax_threads.split(",")
                          if s.strip()) or (threads_setting(),)
    if a.train_worker:
        import json

        print(json.dumps(train_worker(a.train_worker, a.train_steps, a.buffer, a.repeats)), flush=True)
        return 0
    if a.profile:
        from .profiling import main as profile

        return profile(tuple(x for x in algos if x in ("td3", "sac")) or ("td3",), n=a.n,
                       horizon=a.short_horizon or 165)
    rejax_buffers = [int(b) for b in a.rejax_buffers.split(",") if b.strip()]
    if a.only_rejax:
        for buffer in rejax_buffers:
            bench_rejax(tuple(x for x in algos if x in ("td3", "sac")), steps=a.rejax_steps, buffer=buffer,
                        rounds=a.rejax_rounds, threads=rejax_threads)
        return 0
    if a.only_dmc:
        return bench_dmc(a.dmc, dmc_algos, a.dmc_n, a.horizon, a.repeats, a.dmc_workers, sorted({1, 2}),
                         a.train_steps)
    if a.isa_worker:
        import json

        print(json.dumps({"rate": isa_worker(a.isa_worker, a.isa_hidden, a.n, a.train_steps)}))
        return 0
    if a.only_isa:
        return bench_isa([(64, 64), (256, 256)], a.n, a.train_steps, a.isa_repeats)
    if a.only_atari:
        return bench_atari(a.atari, a.atari_n, a.atari_horizon, a.repeats, a.dmc_workers, [1, 2], a.atari_iters)
    if a.run:
        return bench_run(a.run, [x for x in algos if x != "ppo"], a.n, a.horizon, a.repeats)

    print(f"device: {jax.devices()[0].platform} ({jax.devices()[0].device_kind}), jax {jax.__version__}, "
          f"task {a.env}, backend {a.backend}, networks 2x256 (Table 1), PPO num_envs {a.ppo_envs}", flush=True)
    print(f"\npost-update estimator (N updates + N rollouts) vs bare vmapped rollout of the same updated "
          f"policies (horizon {a.horizon}, median of {a.repeats}; policies/s, higher is better)")
    print(f"  {'algo':5s} {'N':>5s} {'estimator':>12s} {'bare rollout':>14s} {'ratio':>7s} {'mean ep. length':>16s}")
    for algo in algos:
        ov = {"num_envs": a.ppo_envs} if algo == "ppo" else {}
        n = a.ppo_n if algo == "ppo" else a.n
        est, ceil, length = bench_post_update(algo, a.env, a.backend, n, horizon=a.horizon, repeats=a.repeats,
                                              overrides=ov)
        print(f"  {algo:5s} {n:5d} {est:12,.1f} {ceil:14,.1f} {est / ceil:7.3f} {length:16.1f}", flush=True)
    print("  (ratio target >= 0.9 for TD3/SAC, whose update is one actor step; a PPO update collects "
          "and learns from a whole batch, so its ratio is far lower by design)")
    if a.short_horizon and dmc_algos:
        bench_short_episodes(dmc_algos, a.n, a.short_horizon, a.repeats)

    print("\ntraining throughput (after warm-up; env-steps/s)")
    for algo in algos:
        ov = {"num_envs": a.ppo_envs} if algo == "ppo" else {}
        steps = a.train_steps * (16 if algo == "ppo" else 1)
        tr = bench_train(algo, a.env, a.backend, sorted({1, a.seeds}), steps, overrides=ov)
        for s, r in tr.items():
            print(f"  {algo:5s} {s:2d} seed(s) vmapped: {r:10,.0f} per seed  {r * s:10,.0f} in total", flush=True)
        if len(tr) > 1:
            lo, hi = min(tr), max(tr)
            print(f"  {algo:5s} total throughput ratio {hi} seeds / 1 seed: {tr[hi] * hi / tr[lo]:.2f}")
    if a.rejax != "0" and dmc_algos:
        for buffer in rejax_buffers:
            bench_rejax(tuple(dmc_algos), steps=a.rejax_steps, buffer=buffer, rounds=a.rejax_rounds,
                        threads=rejax_threads)
    if a.dmc and dmc_algos:
        bench_dmc(a.dmc, dmc_algos, a.dmc_n, a.horizon, a.repeats, a.dmc_workers, sorted({1, 2}), a.train_steps)
    if a.atari and "ppo" in algos:
        bench_atari(a.atari, a.atari_n, a.atari_horizon, a.repeats, a.dmc_workers, [1, 2], a.atari_iters)
    if a.isa:
        bench_isa([(64, 64), (256, 256)], a.n, a.train_steps, a.isa_repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
