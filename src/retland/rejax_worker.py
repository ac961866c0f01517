"""The rejax side of ``make bench``'s training comparison (docs/benchmarks.md): rejax 0.1.3's
TD3 on the same task, network sizes and update schedule as this project's TD3, timed after a
warm-up. Prints one JSON line ``{"rate": env-steps/s, ...}`` (the last line of standard output).

Runs in its own virtual environment (rejax pins other versions of its dependencies than this
project's lock): ``make bench-rejax-venv`` makes ``.venv-rejax``, and :func:`retland.bench.bench_rejax`
starts ``.venv-rejax/bin/python -m retland.rejax_worker`` with ``PYTHONPATH=src``. It imports
nothing of this package but :mod:`retland.runtime` (no JAX there): the same XLA CPU flags, oneDNN
cap and CPU threads (``RETLAND_XLA_CPU_THREADS``) as the process it is compared with.

What is matched (rejax's names): ``brax/hopper`` on the spring backend with brax's termination
and a 1000-step time limit, one environment, ``hidden_layer_sizes`` (64, 64) for actor and
critics with ReLU (this project's activation; rejax's default is swish), ``batch_size`` 256,
``buffer_size`` as given (rejax samples without replacement over its whole capacity, so its
cost grows with it), one critic update per environment step (``num_epochs`` 1), the actor and
both targets every ``policy_delay`` = 2 steps, ``polyak`` 0.995 (tau 0.005), exploration noise
0.1, target noise 0.2 clipped at 0.5, Adam at 3e-4, discount 0.99; no evaluation while timed
(``eval_freq`` = the timed steps, the evaluation callback a constant).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000, help="environment steps per timed call")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (median)")
    ap.add_argument("--buffer", type=int, default=20_000, help="replay buffer capacity (rows)")
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--backend", default="spring")
    a = ap.parse_args(argv)

    from retland.runtime import add_xla_cpu_flags, start_cpu_backend

    add_xla_cpu_flags()
    threads = start_cpu_backend()
    import jax
    import jax.numpy as jnp
    from rejax import TD3

    algo = TD3.create(env=f"brax/{a.env}", env_params={"backend": a.backend}, total_timesteps=a.steps,
                      eval_freq=a.steps, skip_initial_evaluation=True, buffer_size=a.buffer, fill_buffer=512,
                      batch_size=256, num_envs=1, learning_rate=3e-4, gamma=0.99, polyak=0.995, policy_delay=2,
                      exploration_noise=0.1, target_noise=0.2, target_noise_clip=0.5, num_epochs=1,
                      actor_kwargs={"activation": "relu"}, critic_kwargs={"activation": "relu"})
    algo = algo.replace(eval_callback=lambda alg, ts, rng: jnp.zeros(()))
    train = jax.jit(lambda ts: algo.train(train_state=ts)[0])
    ts = jax.block_until_ready(train(algo.init_state(jax.random.PRNGKey(0))))  # compile, fill the buffer
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        ts = jax.block_until_ready(train(ts))
        times.append(time.perf_counter() - t)
    print(json.dumps({"rate": a.steps / statistics.median(times), "rates": [a.steps / x for x in times],
                      "threads": threads, "jax": jax.__version__}), flush=True)


if __name__ == "__main__":
    main()
