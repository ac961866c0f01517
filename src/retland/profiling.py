"""``python -m retland.bench --profile`` (``make bench BENCH_ARGS=--profile``): where one
off-policy training chunk and one post-update estimator call spend their time, measured on this
machine (docs/profile.md shows a run and reads it).

1. The whole training chunk (jitted ``lax.scan`` over environment steps, vmapped over 1 seed,
   learning from the first step), per environment step.
2. Its parts, each jitted alone in a ``lax.scan`` of as many iterations with the chunk's shapes:
   the environment step, a fresh initial state, the PRNG draws of one step, the minibatch
   (``randint`` + gather), the critic step, the actor step (with the target EMA for TD3, the
   temperature for SAC), the behaviour action; per call: wall time, XLA's flop count (the
   compiled program's cost analysis), XLA CPU thunks executed (a trace with
   ``--xla_cpu_enable_xprof_traceme``), and the rate of a large matrix product on this CPU as
   the roofline.
3. The host round trips of a chunk in ``training.drive``: the chunk itself with the transfer of
   what it logged, and the learning-curve evaluation (a rollout from s_I) between chunks.
4. The post-update estimator: N updates alone (one key after another, as the estimator does,
   and vmapped, as it did), the bare rollout of the updated policies, the estimator, and the
   floor the updates' flops put under the estimator.
"""

from __future__ import annotations

import collections
import os
import statistics
import tempfile
import time

TRACE_FLAG = "--xla_cpu_enable_xprof_traceme=true"


def fake_replay(spec, rows: int):
    """A replay buffer of ``rows`` random transitions for ``spec``'s dimensions."""
    import jax
    import jax.numpy as jnp

    from .base.replay import Transition

    k = jax.random.split(jax.random.PRNGKey(1), 4)
    return Transition(
        jax.random.normal(k[0], (rows, spec.obs_dim)),
        jax.random.uniform(k[1], (rows, spec.act_dim), minval=-1, maxval=1),
        jax.random.normal(k[2], (rows,)),
        jax.random.normal(k[3], (rows, spec.obs_dim)),
        jnp.zeros(rows),
    )


def train_chunks(agent, env, cfg, seeds, steps: int, total: int | None = None):
    """``(advance, env_steps)``: ``advance()`` runs the next training chunk of ``agent`` (its
    ``training_setup``, the path ``training.train`` takes for every agent) and waits for it;
    a chunk is ``env_steps`` environment steps per seed: ``steps`` (TD3/SAC, whose ring
    buffer holds ``total`` rows, default 10 x ``steps``; a multiple of ``steps``) or PPO's
    whole iterations within them (at least one)."""
    import jax

    total = 10 * steps if total is None else total
    setup = agent.training_setup(env, cfg, list(seeds), total, [total], steps, lambda m: None)
    units = setup.loop.schedule.bounds[0]  # the first chunk: its length in the loop's units
    state = {"carry": setup.carry, "u": 0}

    def advance():
        u0 = state["u"]
        carry, _ = setup.loop.advance(state["carry"], u0, u0 + units)
        state["carry"], state["u"] = jax.block_until_ready(carry), u0 + units

    return advance, units * setup.loop.schedule.unit_steps


def count_thunks(fn, calls: int = 2) -> float | None:
    """XLA CPU thunks executed per call of ``fn`` (traced; None without the traceme flag)."""
    import jax

    if TRACE_FLAG not in os.environ.get("XLA_FLAGS", ""):
        return None
    jax.block_until_ready(fn())
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            for _ in range(calls):
                jax.block_until_ready(fn())
        paths = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs if f.endswith(".xplane.pb")]
        events = set()
        for plane in jax.profiler.ProfileData.from_file(paths[0]).planes:
            for line in plane.lines:
                if line.name == "python":
                    continue
                for e in line.events:
                    n = e.name
                    if not (n.startswith("end:") or n.startswith("Threadpool") or n.startswith("ThunkExecutor")):
                        events.add((e.start_ns, n))
    return len(events) / calls


def _scan(f, carry, k: int):
    """``jit(lambda c: scan of f(c, i) over i < k)`` and its first argument."""
    import jax
    import jax.numpy as jnp

    g = jax.jit(lambda c: jax.lax.scan(lambda c, i: (f(c, i), None), c, jnp.arange(k))[0])
    return g, carry


def _flops(g, carry) -> float:
    c = g.lower(carry).compile().cost_analysis()
    c = c[0] if isinstance(c, (list, tuple)) else c
    return float((c or {}).get("flops", float("nan")))


def dot_rate(repeats: int = 9) -> float:
    """GFLOP/s of one [51200, 64] x [64, 64] float32 matrix product, its best of ``repeats``
    (this CPU's rate for the products an update is made of, at the pinned instruction set)."""
    import jax

    a = jax.random.normal(jax.random.PRNGKey(0), (51200, 64))
    w = jax.random.normal(jax.random.PRNGKey(1), (64, 64))
    f = jax.jit(lambda a, w: a @ w)
    jax.block_until_ready(f(a, w))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(f(a, w))
        best = min(best, time.perf_counter() - t)
    return 2 * 51200 * 64 * 64 / best / 1e9


def training_parts(algo: str, env, cfg, k: int):
    """[(name, per-step weight, scan function, carry)] of ``algo``'s training step, each part
    alone with the chunk's shapes (minibatch from a 10 x ``k``-row buffer)."""
    import jax
    import jax.numpy as jnp

    from .agents import get_agent
    from .base.replay import Transition, sample_batch

    agent = get_agent(algo)
    spec = env.spec
    key = jax.random.PRNGKey(0)
    state = agent.init(key, spec.obs_dim, spec.act_dim, cfg)
    rows = 10 * k
    kr = jax.random.split(jax.random.PRNGKey(1), 4)
    replay = Transition(jax.random.normal(kr[0], (rows, spec.obs_dim)),
                        jax.random.uniform(kr[1], (rows, spec.act_dim), minval=-1, maxval=1),
                        jax.random.normal(kr[2], (rows,)), jax.random.normal(kr[3], (rows, spec.obs_dim)),
                        jnp.zeros(rows))
    batch = sample_batch(replay, key, 0, rows, cfg.batch_size)
    s0 = env.reset(key)
    oa = agent.offpolicy_agent(spec, cfg)
    act = spec.act_dim

    def acc(f):  # a part whose result feeds a running sum, so it is not folded away
        return lambda c, i: (c[0], c[1] + f(c[0], i))

    def prng(k0, i):
        k1, a, b, _, d = jax.random.split(jax.random.fold_in(k0, i), 5)
        kb, kn = jax.random.split(d)
        return (jax.random.uniform(a, (act,)).sum() + jax.random.normal(b, (act,)).sum()
                + jax.random.randint(kb, (cfg.batch_size,), 0, rows).sum() + jax.random.normal(kn, (cfg.batch_size, act)).sum())

    parts = [
        ("environment step (brax)", 1.0, lambda s, i: env.step(s, jnp.sin(s.obs[:act])), s0),
        ("fresh initial state (env.reset)", 0.0, acc(lambda k0, i: env.reset(jax.random.fold_in(k0, i)).obs.sum()),
         (key, 0.0)),
        ("PRNG draws of one step (threefry)", 1.0, acc(prng), (key, 0.0)),
        ("minibatch (randint + gather)", 1.0,
         acc(lambda k0, i: sum(x.sum() for x in sample_batch(replay, jax.random.fold_in(k0, i), 0, rows,
                                                              cfg.batch_size))), (key, 0.0)),
        ("behaviour action (explore)", 1.0,
         lambda c, i: (c[0], c[1] + oa.explore(c[0], s0.obs + c[1], jax.random.fold_in(key, i)).sum()), (state, 0.0)),
    ]
    m = agent  # the implementation module (agents.get_agent): its update's parts
    if algo == "td3":
        parts += [("critic step", 1.0, lambda s, i: m.critic_step(s, batch, jax.random.fold_in(key, i), cfg, act), state),
                  (f"actor step + target EMA (every {cfg.policy_delay})", 1.0 / cfg.policy_delay,
                   lambda s, i: m.delayed_step(s, batch, cfg, act), state)]
    else:
        def actor_temp(s, i):
            s = m.target_step(s, cfg)
            s, ent = m.actor_step(s, batch, jax.random.fold_in(key, i), cfg, act)
            return m.temperature_step(s, ent, cfg, act)

        parts += [("critic step", 1.0, lambda s, i: m.critic_step(s, batch, jax.random.fold_in(key, i), cfg, act), state),
                  ("target EMA + actor step + temperature", 1.0, actor_temp, state)]
    return parts


def profile_training(algo: str, *, k: int = 500, repeats: int = 5, env_name: str = "hopper",
                     backend: str = "spring", hidden=(64, 64)) -> dict:
    """Print and return the profile of ``algo``'s training chunk (sections 1-3 of the module)."""
    import jax
    import numpy as np

    from .agents import get_agent
    from .base.envs import make_env
    from .rollout import make_evaluator

    agent = get_agent(algo)
    env = make_env(env_name, backend)
    cfg = agent.Config.from_dict({"hidden": list(hidden), "learning_starts": 1})
    print(f"\n{algo.upper()} training, {env_name} ({backend}), 1 seed, {'x'.join(map(str, hidden))} networks, "
          f"batch {cfg.batch_size}, learning from the first step; chunks of {k} steps, median of {repeats}", flush=True)
    advance, steps = train_chunks(agent, env, cfg, [0], k)
    setup = agent.training_setup(env, cfg, [0], 10 * k, [10 * k], k, lambda m: None)
    loop = setup.loop
    n_chunk = count_thunks(lambda: loop.chunk_fn(jax.tree_util.tree_map(lambda x: x.copy(), setup.carry), 0), 1)
    parts = [(name, w, *_scan(f, carry, k)) for name, w, f, carry in training_parts(algo, env, cfg, k)]
    # the chunk and its parts timed in rounds, one call each per round: all see the same machine
    calls = [advance] + [lambda g=g, c=c: jax.block_until_ready(g(c)) for _, _, g, c in parts]
    for fn in calls:
        fn()
    times = [[] for _ in calls]
    for _ in range(repeats):
        for fn, ts in zip(calls, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    t_chunk = statistics.median(times[0]) / steps
    print(f"  whole chunk: {1e6 * t_chunk:8.1f} us per env step = {1 / t_chunk:8,.0f} env-steps/s"
          + (f"; {n_chunk / k:,.0f} XLA thunks per step" if n_chunk else ""), flush=True)
    rate = dot_rate()
    print(f"  {'part, jitted alone':40s} {'us/call':>8s} {'MFLOP':>7s} {'GFLOP/s':>8s} {'thunks':>7s} {'calls/step':>10s} "
          f"{'share':>6s}")
    total, flops_step, out = 0.0, 0.0, {"chunk_us": 1e6 * t_chunk, "parts": {}}
    for (name, w, g, c), ts in zip(parts, times[1:]):
        t = statistics.median(ts) / k
        fl = _flops(g, c)  # XLA counts a loop's body once: the flops of one call
        th = count_thunks(lambda: g(c), 1)
        total += w * t
        flops_step += w * fl
        out["parts"][name] = {"us": 1e6 * t, "mflop": fl / 1e6, "weight": w}
        gf = f"{fl / t / 1e9:8.1f}" if fl > 1e5 else f"{'':8s}"
        print(f"  {name:40s} {1e6 * t:8.1f} {fl / 1e6:7.2f} {gf} {(th or 0) / k:7.0f} {w:10.2f} {w * t / t_chunk:6.0%}",
              flush=True)
    glue = t_chunk - total
    out.update(glue_us=1e6 * glue, dot_gflops=rate, mflop_step=flops_step / 1e6)
    print(f"  {'loop (cond, replay write, selects, copies)':40s} {1e6 * glue:8.1f} {'':7s} {'':8s} {'':7s} {'':10s} "
          f"{glue / t_chunk:6.0%}")
    floor = flops_step / (rate * 1e9)
    print(f"  flops per step {flops_step / 1e6:.1f} MFLOP; one [51200,64]x[64,64] product runs at {rate:.0f} GFLOP/s "
          f"here: the updates alone at that rate take {1e6 * floor:.0f} us = {1 / floor:,.0f} env-steps/s "
          f"(the chunk reaches {floor / t_chunk:.0%} of it)", flush=True)

    # host round trips: one chunk (dispatch, compute, transfer of the logged transitions) and
    # the learning-curve evaluation that training.drive runs between two chunks
    evaluate = make_evaluator(env, agent.make_policy(env.spec.act_dim, cfg), env.episode_length, batch_size=1)
    carry = setup.carry
    carry, _ = loop.advance(carry, 0, k)
    t_adv, t_eval = [], []
    for i in range(repeats):
        t = time.perf_counter()
        carry, logged = loop.advance(carry, (i + 1) * k, (i + 2) * k)
        t_adv.append(time.perf_counter() - t)
        t = time.perf_counter()
        np.asarray(evaluate(loop.eval_params(carry), loop.reference)[0])
        t_eval.append(time.perf_counter() - t)
    a, e = statistics.median(t_adv[1:] or t_adv), statistics.median(t_eval[1:] or t_eval)
    n_logged = len(jax.tree_util.tree_leaves(logged))
    print(f"  between chunks (training.drive): the chunk with the transfer of what it logged ({n_logged} arrays) "
          f"{1e3 * a:.0f} ms, then the learning-curve rollout from s_I ({env.episode_length} steps at most) "
          f"{1e3 * e:.0f} ms: {e / (a + e):.0%} of a {k}-step chunk; 2 host round trips per chunk, none inside it",
          flush=True)
    out.update(advance_ms=1e3 * a, eval_ms=1e3 * e)
    return out


def profile_estimator(algo: str = "td3", *, n: int = 200, horizon: int = 165, repeats: int = 5,
                      hidden=(64, 64), rows: int = 150_000) -> dict:
    """Section 4: N post-updates and rollouts of ``horizon`` steps (hopper without termination:
    every episode runs ``horizon`` steps, as a trained policy's ~165-step episodes do)."""
    import jax

    from .agents import get_agent
    from .analyses.post_update import make_estimator
    from .analyses.source import Source
    from .base.envs import make_env
    from .rollout import make_batched_rollout, make_rollout

    agent = get_agent(algo)
    cfg = agent.Config.from_dict({"hidden": list(hidden)})
    env = make_env("hopper", "spring", env_kwargs={"terminate_when_unhealthy": False})
    spec = env.spec
    state = agent.init(jax.random.PRNGKey(0), spec.obs_dim, spec.act_dim, cfg)
    replay = fake_replay(spec, rows)
    start = env.reference_state()
    keys = jax.random.split(jax.random.PRNGKey(2), n)
    est = make_estimator(Source(agent, env, cfg), horizon)
    one = lambda kk: agent.post_update(state, kk, replay, 0, rows, cfg, env)  # noqa: E731
    vmapped = jax.jit(jax.vmap(one))
    roll = make_rollout(env, agent.make_policy(spec.act_dim, cfg), horizon)
    before = jax.jit(jax.vmap(lambda kk, s: roll(one(kk), s), in_axes=(0, None)))  # update and rollout vmapped
    params = est.updates(keys, state, replay, 0, rows)
    bare = make_batched_rollout(env, agent.make_policy(spec.act_dim, cfg), horizon)
    fns = {"updates, one key after another (the estimator's)": lambda: est.updates(keys, state, replay, 0, rows),
           "updates, vmapped over the keys (before)": lambda: vmapped(keys),
           "bare rollout of the updated policies": lambda: bare(params, start),
           "estimator (updates + rollouts)": lambda: est(keys, state, replay, 0, rows, start),
           "estimator as before (vmapped update + rollout)": lambda: before(keys, start)}
    for f in fns.values():
        jax.block_until_ready(f())
    ts = collections.defaultdict(list)
    for _ in range(repeats):  # interleaved: every form sees the same machine
        for name, f in fns.items():
            t = time.perf_counter()
            jax.block_until_ready(f())
            ts[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in ts.items()}
    c = jax.jit(one).lower(keys[0]).compile().cost_analysis()
    fl = float((c[0] if isinstance(c, (list, tuple)) else c).get("flops", float("nan")))
    rate = dot_rate()
    floor = n * fl / (rate * 1e9)
    names = list(fns)
    print(f"\npost-update estimator, {algo.upper()} {'x'.join(map(str, hidden))}, N {n}, hopper without termination, "
          f"horizon {horizon} (every episode {horizon} steps); interleaved, median of {repeats}")
    for name in names:
        print(f"  {name:52s} {1e3 * med[name]:8.1f} ms  [{1e3 * min(ts[name]):.1f}-{1e3 * max(ts[name]):.1f}]")
    bare_t, est_t, before_t = med[names[2]], med[names[3]], med[names[4]]
    per_round = [b / e for b, e in zip(ts[names[2]], ts[names[3]])]
    per_round_before = [b / e for b, e in zip(ts[names[2]], ts[names[4]])]
    print(f"  bare rollout / estimator: {bare_t / est_t:.3f} (rounds {min(per_round):.3f}-{max(per_round):.3f}); "
          f"as before: {bare_t / before_t:.3f} ({min(per_round_before):.3f}-{max(per_round_before):.3f})")
    print(f"  one update is {fl / 1e6:.1f} MFLOP: {n} of them at {rate:.0f} GFLOP/s take {1e3 * floor:.0f} ms, so the "
          f"ratio cannot pass {bare_t / (bare_t + floor):.3f} with this rollout", flush=True)
    return {"ms": {name: 1e3 * v for name, v in med.items()}, "ratio": bare_t / est_t,
            "ratio_before": bare_t / before_t, "ceiling": bare_t / (bare_t + floor), "update_mflop": fl / 1e6,
            "dot_gflops": rate}


def main(algos=("td3", "sac"), *, k: int = 500, repeats: int = 5, n: int = 200, horizon: int = 165) -> int:
    """The profile (sections 1-4) of ``algos``' training and of the TD3 estimator."""
    import jax

    from .portability import cpu_threads, machine_line

    print(f"profile: {machine_line()}; XLA CPU threads {cpu_threads()}; jax {jax.__version__}", flush=True)
    for algo in algos:
        profile_training(algo, k=k, repeats=repeats)
    profile_estimator("td3", n=n, horizon=horizon, repeats=repeats)
    return 0
