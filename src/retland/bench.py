"""`make bench`: throughput measured side by side in one run (never in tests).

1. Post-update estimator (N fused updates + rollouts) against the bare vmapped rollout
   of the very same updated policies (the ceiling), same task, backend and horizon.
2. TD3 training: environment steps per second per seed with 1 seed and with several
   seeds vmapped in one job.

Usage: python -m retland.bench [--env hopper] [--backend spring] [--n 200] [--horizon 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax


def _time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` (which must block) over ``repeats`` calls."""
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def bench_post_update(env_name, backend, n, horizon, repeats, replay_rows=20_000, hidden=(256, 256)):
    from .agents import get_agent
    from .analyses.post_update import make_estimator
    from .base.envs import make_env
    from .base.replay import Transition
    from .rollout import make_batched_rollout

    agent = get_agent("td3")
    cfg = agent.Config(hidden=tuple(hidden))
    env = make_env(env_name, backend)
    spec = env.spec
    state = agent.init(jax.random.PRNGKey(0), spec.obs_dim, spec.act_dim, cfg)
    k = jax.random.split(jax.random.PRNGKey(1), 4)
    replay = Transition(
        jax.random.normal(k[0], (replay_rows, spec.obs_dim)),
        jax.random.uniform(k[1], (replay_rows, spec.act_dim), minval=-1, maxval=1),
        jax.random.normal(k[2], (replay_rows,)),
        jax.random.normal(k[3], (replay_rows, spec.obs_dim)),
        jax.numpy.zeros(replay_rows),
    )
    start = env.reference_state()
    keys = jax.random.split(jax.random.PRNGKey(2), n)
    est = make_estimator(agent, env, cfg, horizon)
    params = jax.jit(jax.vmap(lambda kk: agent.post_update(state, kk, replay, 0, replay_rows, cfg, env)))(keys)
    bare = make_batched_rollout(env, agent.make_policy(spec.act_dim, cfg), horizon)
    run_est = lambda: jax.block_until_ready(est(state, keys, replay, 0, replay_rows, start))  # noqa: E731
    run_bare = lambda: jax.block_until_ready(bare(params, start))  # noqa: E731
    run_est(), run_bare()  # compile both
    # interleave so both see the same machine state
    t_est, t_bare = [], []
    for _ in range(repeats):
        t_bare.append(_time(run_bare, 1))
        t_est.append(_time(run_est, 1))
    steps = n * horizon
    return steps / statistics.median(t_est), steps / statistics.median(t_bare)


def bench_train(env_name, backend, seeds_list, steps, hidden=(256, 256)):
    from .agents import get_agent
    from .base.envs import make_env

    agent = get_agent("td3")
    env = make_env(env_name, backend)
    out = {}
    for n_seeds in seeds_list:
        cfg = agent.Config(hidden=tuple(hidden), learning_starts=1)
        carry = agent.init_carry(env, cfg, list(range(n_seeds)), 10 * steps)
        chunk = agent.make_train_chunk(env, cfg, 10 * steps, steps)
        carry, _ = chunk(carry, 0)
        jax.block_until_ready(carry)
        t = time.perf_counter()
        carry, _ = chunk(carry, steps)
        jax.block_until_ready(carry)
        dt = time.perf_counter() - t
        out[n_seeds] = steps / dt
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--backend", default="spring")
    ap.add_argument("--n", type=int, default=200, help="post-update samples (one vmapped chunk)")
    ap.add_argument("--horizon", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=4, help="vmapped seeds for the training benchmark")
    ap.add_argument("--train-steps", type=int, default=500, help="timed training steps (after a warm-up chunk)")
    a = ap.parse_args(argv)

    print(f"device: {jax.devices()[0].platform} ({jax.devices()[0].device_kind}), jax {jax.__version__}, "
          f"task {a.env}, backend {a.backend}, TD3 networks 2x256", flush=True)
    est, ceil = bench_post_update(a.env, a.backend, a.n, a.horizon, a.repeats)
    print("\npost-update estimator vs bare vmapped rollout "
          f"(N={a.n} policies, horizon {a.horizon}, median of {a.repeats})")
    print(f"  {'estimator (update + rollout)':32s} {est:12,.0f} env-steps/s")
    print(f"  {'bare rollout (ceiling)':32s} {ceil:12,.0f} env-steps/s")
    print(f"  {'ratio (target >= 0.9)':32s} {est / ceil:12.3f}", flush=True)

    tr = bench_train(a.env, a.backend, sorted({1, a.seeds}), a.train_steps)
    print(f"\nTD3 training ({a.train_steps} steps per seed, one update per step, after warm-up)")
    for s, r in tr.items():
        print(f"  {s:2d} seed(s) vmapped: {r:10,.0f} env-steps/s per seed  {r * s:10,.0f} in total")
    if len(tr) > 1:
        lo, hi = min(tr), max(tr)
        print(f"  total throughput ratio {hi} seeds / 1 seed: {tr[hi] * hi / tr[lo]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
