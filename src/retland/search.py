"""Measured search for settings that show the paper's phenomenon at CPU scale (issue 15).

For each candidate (task, variant, backend, network size, training steps) this trains the
seeds with the workflow's own training job, estimates the post-update return
distribution (E2, the workflow's own post-update job) at every checkpoint, and reports
per candidate: the final deterministic return and episode length (reference state), and
the distribution over checkpoints of the post-update mean, mean episode length and LTP
(the paper's, 0 <= R < mode/2, and the authors' code's, every R < mode/2).

    python -m retland.search --env hopper --variant default --variant brax0013 \\
        --steps 60000 --checkpoints 3 --seeds 0 1 --n 100 --out results/search

Variants are named presets of Brax constructor arguments (:data:`VARIANTS`, the config's
``env_kwargs``). Each candidate's files live in ``<out>/<candidate>/`` and a finished
candidate is not trained again; ``<out>/policies.csv`` has one row per policy and
``<out>/search.md`` / ``search.csv`` one row per candidate.
"""

from __future__ import annotations

import argparse
import os
import time

#: Named task variants (Brax 0.14 constructor arguments, config ``env_kwargs.<env>``).
#: ``brax0013``: closer to the paper's Brax 0.0.13 hopper / walker2d (0.02 s control step,
#: no torso-angle termination; termination on the torso height only).
VARIANTS = {
    "default": {},
    "brax0013": {"n_frames": 10, "healthy_angle_range": [-1000.0, 1000.0]},
    "no_angle": {"healthy_angle_range": [-1000.0, 1000.0]},
    "dt02": {"n_frames": 10},
    "no_term": {"terminate_when_unhealthy": False},
}


def variant_kwargs(env: str, variant: str) -> dict:
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; known: {sorted(VARIANTS)}")
    kw = dict(VARIANTS[variant])
    if env in ("halfcheetah", "ant"):
        kw.pop("healthy_angle_range", None)  # no torso-angle termination to remove
    return kw


def run_candidate(env: str, variant: str, backend: str, *, hidden: list[int], steps: int, n_ckpt: int,
                  seeds: list[int], n: int, horizon: int, out: str, learning_starts: int) -> list[dict]:
    """Train one candidate's seeds and estimate its post-update distributions (files under
    ``<out>/<candidate>/``, reused when there); one row per policy."""
    import numpy as np

    from . import stats as S
    from .base.checkpoints import TrainFile, read_post_update
    from .jobs.post_update import post_update_job
    from .jobs.train import train_job
    from .runtime import log

    name = f"{env}-{variant}-{backend}-{'x'.join(map(str, hidden))}-{steps // 1000}k"
    d = os.path.join(out, name)
    ckpts = [int(round(steps * (i + 1) / n_ckpt)) for i in range(n_ckpt)]
    train_paths = [os.path.join(d, f"seed{s}.h5") for s in seeds]
    kw = variant_kwargs(env, variant)
    t0 = time.time()
    if not all(os.path.exists(p) for p in train_paths):
        train_job(env=env, algo="td3", seeds=seeds, backend=backend, episode_length=1000,
                  train={"total_steps": steps, "checkpoints": ckpts, "max_chunk_steps": min(5000, steps)},
                  agent_overrides={"hidden": hidden, "learning_starts": learning_starts}, out_h5=train_paths,
                  config_record={"search": name}, env_kwargs=kw)
    rows = []
    for s, tp in zip(seeds, train_paths):
        pu = [os.path.join(d, f"pu_seed{s}_step{k}.h5") for k in ckpts]
        if not all(os.path.exists(p) for p in pu):
            post_update_job(train_path=tp, seed=s, steps=ckpts,
                            post_update={"n_samples": n, "horizon": horizon, "chunk_size": n, "sample_seed": 0},
                            out_h5=pu, config_record={"search": name})
        with TrainFile(tp) as tf:
            lc = {k: np.asarray(tf.f["learning_curve"][k]) for k in ("step", "return", "length")}
        for k, p in zip(ckpts, pu):
            r, lengths, _ = read_post_update(p)
            ps = S.point_stats(r)
            i = int(np.searchsorted(lc["step"], k))
            rows.append(dict(candidate=name, env=env, variant=variant, backend=backend,
                             hidden="x".join(map(str, hidden)), steps=steps, seed=s, step=k,
                             det_return=float(lc["return"][min(i, len(lc["step"]) - 1)]),
                             det_length=int(lc["length"][min(i, len(lc["step"]) - 1)]),
                             mean=ps["mean"], std=ps["std"], min=float(np.min(r)), ltp=ps["ltp"],
                             ltp_all=ps["ltp_all"], mean_length=float(np.mean(lengths))))
    log(f"[search] {name}: {time.time() - t0:.0f}s")
    return rows


def summarize(policies):
    """One row per candidate: final return/length and the LTP distribution over checkpoints."""
    import pandas as pd

    df = pd.DataFrame(policies)
    out = []
    for name, g in df.groupby("candidate", sort=False):
        last = g[g.step == g.step.max()]
        out.append(dict(
            candidate=name, env=g.env.iloc[0], variant=g.variant.iloc[0], backend=g.backend.iloc[0],
            hidden=g.hidden.iloc[0], steps=int(g.steps.iloc[0]), policies=len(g),
            final_return=round(float(last.det_return.mean()), 1),
            final_length=round(float(last.det_length.mean()), 1),
            pu_mean_range=f"{g['mean'].min():.0f}-{g['mean'].max():.0f}",
            pu_length_range=f"{g.mean_length.min():.0f}-{g.mean_length.max():.0f}",
            ltp_median=round(float(g.ltp.median()), 3), ltp_max=round(float(g.ltp.max()), 3),
            ltp_ge_005=int((g.ltp >= 0.05).sum()), ltp_all_max=round(float(g.ltp_all.max()), 3),
            std_max=round(float(g["std"].max()), 1)))
    return pd.DataFrame(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", action="append", required=True)
    ap.add_argument("--variant", action="append", default=None, help=f"one of {sorted(VARIANTS)}")
    ap.add_argument("--backend", default="spring")
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    ap.add_argument("--steps", type=int, nargs="+", default=[60000])
    ap.add_argument("--checkpoints", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--n", type=int, default=100, help="post-update samples per checkpoint")
    ap.add_argument("--horizon", type=int, default=1000)
    ap.add_argument("--learning-starts", type=int, default=1000)
    ap.add_argument("--out", default="results/search")
    a = ap.parse_args(argv)
    from .runtime import setup_jax

    setup_jax()
    import pandas as pd

    from .base.atomic import atomic_path

    os.makedirs(a.out, exist_ok=True)
    pol_csv = os.path.join(a.out, "policies.csv")
    old = pd.read_csv(pol_csv) if os.path.exists(pol_csv) else pd.DataFrame()
    for env in a.env:
        for variant in a.variant or ["default"]:
            for steps in a.steps:
                rows = run_candidate(env, variant, a.backend, hidden=a.hidden, steps=steps, n_ckpt=a.checkpoints,
                                     seeds=a.seeds, n=a.n, horizon=a.horizon, out=a.out,
                                     learning_starts=a.learning_starts)
                new = pd.DataFrame(rows)
                if len(old):
                    old = old[old.candidate != new.candidate.iloc[0]]
                old = pd.concat([old, new], ignore_index=True)
                with atomic_path(pol_csv) as tmp:
                    old.to_csv(tmp, index=False)
                table = summarize(old.to_dict("records"))
                with atomic_path(os.path.join(a.out, "search.csv")) as tmp:
                    table.to_csv(tmp, index=False)
                with atomic_path(os.path.join(a.out, "search.md")) as tmp:
                    with open(tmp, "w") as f:
                        f.write(table.to_markdown(index=False) + "\n")
                print(table.to_string(index=False), flush=True)


if __name__ == "__main__":
    main()
