"""E6-E7 (paper Sec. 4.1, A.3; Fig. 5, 6, 8, 9, Tab. 2): returns along linear paths
between policies, and the below-threshold proportion with rliable CIs.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import provenance
from ..provenance import write_csv
from ..runtime import log
from .sources import Policies


# ---------------------------------------------------------------------------------------
# E6 / E7: interpolation (Fig. 5, 8, 9, Tab. 2) and below-threshold proportion (Fig. 6)
# ---------------------------------------------------------------------------------------
def interpolation_job(*, env: str, stats_csv: str, train_paths, interpolation: dict, out_pairs: str,
                      out_paths: str, out_btp_pairs: str, config_record: dict | None = None) -> None:
    """One environment: Tab. 2 pair selection (``out_pairs``), Fig. 5/8 paths (``out_paths``,
    one row per point), Fig. 6 per-pair BTP (``out_btp_pairs``). ``interpolation``: the
    config section."""
    from ..runtime import setup_jax
    from .sources import sample_key

    jax = setup_jax()
    from ..analyses import interpolation as I

    t_job = time.time()
    stats = pd.read_csv(stats_csv)
    algo = interpolation["algo"]
    pol = Policies(train_paths)
    src = pol.src
    prov = provenance.record(config_record, backend=src.attrs["backend"], env=env, algo=algo)
    start = src.env.reference_state()
    evaluator = I.make_path_evaluator(src, interpolation["horizon"])
    chunk = int(interpolation["chunk_size"])

    # Tab. 2 / Fig. 5, 8: similar mean, different std; deterministic path + noise-based PURD
    if interpolation.get("pairs"):  # chosen in the config
        pairs = I.chosen_pairs(stats, env, algo, interpolation["pairs"], interpolation["mean_tolerance"])
    else:
        pairs = pd.concat([I.select_similar_pairs(stats, env, algo, k, interpolation["n_pairs"],
                                                  interpolation["mean_tolerance"])
                           for k in I.KINDS], ignore_index=True)
    write_csv(pairs, out_pairs, prov)
    alphas = np.linspace(0.0, 1.0, interpolation["n_points"])

    def path(i, row, ta, tb):
        key = jax.random.fold_in(sample_key(interpolation["seed"], 0, 0), i)
        det = I.path_returns(evaluator, ta, tb, alphas, n_perturbations=1, sigma=0.0, key=key, chunk_size=chunk,
                             start_state=start)[:, 0]
        # the same perturbation draws at every point, as the authors' policy_interpolation.py
        noisy = I.path_returns(evaluator, ta, tb, alphas, n_perturbations=interpolation["n_perturbations"],
                               sigma=interpolation["noise_scale"], key=jax.random.fold_in(key, 1), chunk_size=chunk,
                               start_state=start, shared=True)
        return pd.DataFrame({
            "env": env, "kind": row.kind, "pair": i, "seed_a": row.seed_a, "step_a": row.step_a,
            "seed_b": row.seed_b, "step_b": row.step_b, "alpha": alphas, "return": det,
            "purd_mean": noisy.mean(axis=1), "purd_std": noisy.std(axis=1, ddof=0),
            "purd_n_nonfinite": (~np.isfinite(noisy)).sum(axis=1), "n_perturbations": noisy.shape[1],
            # the Tab. 2 selection, so that Fig. 5 / 8 can say when a pair is not similar in mean
            "mean_a": row.mean_a, "mean_b": row.mean_b, "std_a": row.std_a, "std_b": row.std_b,
            "mean_gap": row.mean_gap, "similar_mean": bool(row.similar_mean)})

    log(f"[interpolation] {env}: {len(pairs)} Tab. 2 pairs x {interpolation['n_points']} points x "
        f"(1 + {interpolation['n_perturbations']}) rollouts of {interpolation['horizon']} steps")
    paths = pd.concat(I.run_pairs(pairs, pol.theta, path, log, "interpolation"), ignore_index=True)
    write_csv(paths, out_paths, prov)

    # Fig. 6: pairs drawn as the authors (no screening), BTP of the per-point mean return
    # over Gaussian perturbations shared by the points (their policy_interpolation_seed.py)
    rnd = btp_pairs_table(env, stats, pol, evaluator, section=interpolation, start=start, what="below_threshold",
                          draw="authors", shared_perturbations=True)
    write_csv(rnd, out_btp_pairs, prov)
    log(f"[interpolation] {env} done in {time.time() - t_job:.1f}s; mean BTP "
        + ", ".join(f"{k} {g['btp'].mean():.3f}" for k, g in rnd.groupby("kind")))


def btp_pairs_table(env: str, stats: pd.DataFrame, pol: Policies, evaluator, *, section: dict, start,
                    what: str, draw: str, shared_perturbations: bool) -> pd.DataFrame:
    """Fig. 6 / 19, settings from the config ``section`` (``interpolation`` or ``atari``):
    ``btp_pairs`` random pairs of each kind, ``btp_points`` intermediate
    points, each point's return the mean over ``btp_perturbations`` Gaussian perturbations
    (std ``noise_scale``; ``shared_perturbations``: the same draws at every point, see
    ``I.path_returns``), and the pair's BTP at ``btp_fraction`` of the smaller endpoint
    (``I.pair_btp``). ``draw``: ``"authors"`` (Fig. 6: ``I.sample_btp_pairs``, the authors'
    pair set, no screening) or ``"all"`` (Fig. 19: ``I.sample_random_pairs(screen=False)``,
    any two policies of the kind). One table row per pair."""
    from ..runtime import setup_jax
    from .sources import sample_key

    jax = setup_jax()
    from ..analyses import interpolation as I

    algo, chunk = section["algo"], int(section["chunk_size"])
    if draw == "authors":
        rnd = pd.concat([I.sample_btp_pairs(stats, env, algo, k, section["btp_pairs"], section["seed"])
                         for k in I.KINDS], ignore_index=True)
    elif draw == "all":
        rnd = pd.concat([I.sample_random_pairs(stats, env, algo, k, section["btp_pairs"], section["seed"],
                                               screen=False)
                         for k in I.KINDS], ignore_index=True)
    else:
        raise ValueError(f"draw must be 'authors' or 'all', got {draw!r}")
    # Fig. 6 keeps its interior grid; Fig. 19 may take the authors' grid with the endpoints
    # counted in btp_points (atari.btp_grid: inclusive, ppo_interpolate.py l. 108)
    grid = I.btp_alphas(section["btp_points"], section.get("btp_grid", "interior"))

    def btp(i, row, ta, tb):
        key = jax.random.fold_in(sample_key(section["seed"], 1, 0), i)
        r = I.path_returns(evaluator, ta, tb, grid, n_perturbations=section["btp_perturbations"],
                           sigma=section["noise_scale"], key=key, chunk_size=chunk, start_state=start,
                           shared=shared_perturbations)
        value, ra, rb = I.pair_btp(I.finite_point_means(r), section["btp_fraction"])
        return {"btp": value, "return_a": ra, "return_b": rb, "n_nonfinite": int((~np.isfinite(r)).sum())}

    log(f"[{what}] {env}: {len(rnd)} random pairs x {len(grid)} points (endpoints included) x "
        f"{section['btp_perturbations']} perturbations, rollouts of at most {section['horizon']} steps"
        + (f" ({section['return_definition']} return)" if "return_definition" in section else ""))
    res = pd.DataFrame(I.run_pairs(rnd, pol.theta, btp, log, what))
    return pd.concat([rnd[["env", "kind", "seed_a", "step_a", "seed_b", "step_b"]], res], axis=1)


def below_threshold_stats_job(*, btp_csvs, stats: dict, out_csv: str, out_summary: str,
                              config_record: dict | None = None) -> None:
    """Fig. 6 table: every pair's BTP (docs/design.md, section 4) and the rliable summary."""
    from ..analyses.interpolation import below_threshold_summary

    df = pd.concat([pd.read_csv(p) for p in btp_csvs], ignore_index=True)
    cols = ["env", "kind", "seed_a", "step_a", "seed_b", "step_b", "btp", "return_a", "return_b"]
    prov = provenance.record(config_record)
    write_csv(df[cols], out_csv, prov)
    summary = below_threshold_summary(df, stats["n_boot"], stats["ci"], stats["seed"])
    write_csv(summary, out_summary, prov)
    log(f"[below_threshold] {len(df)} pairs -> {out_csv}\n{summary.to_string(index=False)}")


def fig05_job(*, paths_csv: str, env: str, out_png: str, out_pdf: str, out_purd_png: str, out_purd_pdf: str,
              dpi: int) -> None:
    """Paper Fig. 5 / 9 (one simulation along each Tab. 2 path) and Fig. 8 (mean +- std of the
    noise-based post-update distribution along them)."""
    from ..plots.interpolation import fig05_interpolation, fig08_interpolation_purd

    paths = pd.read_csv(paths_csv)
    fig05_interpolation(paths, env, out_png, out_pdf, dpi=dpi)
    fig08_interpolation_purd(paths, env, out_purd_png, out_purd_pdf, dpi=dpi)


def fig06_job(*, summary_csv: str, out_png: str, out_pdf: str, dpi: int, figure: str = "Fig. 6",
              envs: str = "the Brax tasks") -> None:
    """Paper Fig. 6 (Brax) / Fig. 19 (Atari): mean below-threshold proportion, same vs
    different runs, rliable CI over the environments."""
    from ..plots.interpolation import fig06_below_threshold

    fig06_below_threshold(pd.read_csv(summary_csv), out_png, out_pdf, dpi=dpi, figure=figure, envs=envs)
