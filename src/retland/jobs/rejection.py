"""E8-E9 (paper Sec. 4.2, Algorithm 1, Fig. 7, 24, 26; A.9, Fig. 25): CVaR-based
rejection of TD3 updates, its statistics, and the CVaR ranking of policies.
"""

from __future__ import annotations

import time

import pandas as pd

from .. import provenance
from ..provenance import write_csv
from ..runtime import log
from .sources import Policies


# ---------------------------------------------------------------------------------------
# E8: Algorithm 1 (Fig. 7, 24, 26)
# ---------------------------------------------------------------------------------------
def rejection_job(*, env: str, stats_csv: str, train_paths, rejection: dict, out_csv: str, out_starts: str,
                  config_record: dict | None = None) -> None:
    """Algorithm 1 and plain TD3 from ``n_starts`` start policies x ``n_runs`` runs of one env.

    Start policies must be resolvable at Algorithm 1's N (``analyses.rejection``,
    ``select_start_policies``: table LTP >= ``min_expected_failures`` / ``n_samples``); with
    none the job stops with an error naming ``rejection.n_samples`` unless
    ``allow_unresolvable_starts``. ``out_starts`` records the table LTP and the start LTP at
    Algorithm 1's N; ``out_csv`` the per-iteration log and the fresh final estimates.
    ``rejection``: the config section."""
    from ..runtime import setup_jax
    from .sources import sample_key

    jax = setup_jax()
    from ..analyses import rejection as R
    from ..analyses.post_update import make_estimator, post_update_returns

    t_job = time.time()
    stats = pd.read_csv(stats_csv)
    pol = Policies(train_paths)
    envo = pol.src.env
    prov = provenance.record(config_record, backend=pol.src.attrs["backend"], env=env, algo=rejection["algo"])
    n, chunk = int(rejection["n_samples"]), int(rejection["chunk_size"])
    k_fail = float(rejection.get("min_expected_failures", R.MIN_EXPECTED_FAILURES))
    starts = R.select_start_policies(stats, env, rejection["algo"], rejection["n_starts"], rejection["seed"],
                                     n_samples=n, min_expected_failures=k_fail,
                                     allow_unresolvable=bool(rejection.get("allow_unresolvable_starts", False)))
    if not starts["resolvable"].all():
        log(f"[rejection] WARNING {env}: {int((~starts['resolvable']).sum())} of {len(starts)} start policies have "
            f"a table LTP below {k_fail:g} / N = {k_fail / n:.3g} (N = rejection.n_samples = {n}): Algorithm 1's "
            f"estimates will mostly show LTP 0 for them (starts.csv: resolvable = False)")
    start_state = envo.reference_state()
    est = make_estimator(pol.src, rejection["horizon"])
    propose = R.make_propose(pol.src)

    def estimate(state, buffer, key):
        return post_update_returns(pol.src, state, key, replay=buffer.data, lo=buffer.lo, hi=buffer.hi, n_samples=n,
                                   horizon=rejection["horizon"], chunk_size=chunk, start_state=start_state,
                                   log=lambda m: None, estimator=est)[0]

    rows, total, done = [], len(starts) * rejection["n_runs"], 0
    for s in starts.itertuples(index=False):
        src = pol.source(s.seed)
        state, (lo, hi) = src.checkpoint(int(s.step))
        buffer = R.working_buffer(src.replay, lo, hi, rejection["n_iterations"])
        for run in range(rejection["n_runs"]):
            key = jax.random.fold_in(sample_key(rejection["seed"], int(s.seed), int(s.step)), run)
            k_env, key = jax.random.split(key)
            carry = R.start_carry(state, buffer, envo.reset(k_env))
            log(f"[rejection] {env} seed {s.seed} step {s.step} (table LTP {s.ltp:.3f}, resolvable "
                f"{s.resolvable}) run {run}: "
                f"{rejection['n_iterations']} iterations, N={n}, horizon {rejection['horizon']}, "
                f"buffer rows [{lo}, {hi})")
            for r in R.run_start_policy(carry, key, rejection["n_iterations"], propose, estimate,
                                        rejection["cvar_alpha"], rejection["delta"], log=log):
                rows.append({"env": env, "seed": int(s.seed), "step": int(s.step), "run_index": run, **r})
            done += 1
            el = time.time() - t_job
            log(f"[rejection] {done}/{total} runs done, ETA {el / done * (total - done):.0f}s")
    df = pd.DataFrame(rows)
    cols = ["env", "seed", "step", "run_index", "method", "iteration", "final", "accepted", "purd_mean",
            "purd_ltp", f"purd_cvar_{rejection['cvar_alpha']:g}"]
    write_csv(df[cols], out_csv, prov)
    write_csv(R.start_ltps(starts, df, n), out_starts, prov)
    log(f"[rejection] {env} done in {time.time() - t_job:.1f}s")


def rejection_stats_job(*, rejection_csvs, stats: dict, out_csv: str, out_summary: str,
                        config_record: dict | None = None) -> None:
    """Fig. 7 table: every iteration of every run (contract) and the rliable LTP-reduction summary."""
    from ..analyses.rejection import ltp_reduction_summary

    df = pd.concat([pd.read_csv(p) for p in rejection_csvs], ignore_index=True)
    write_csv(df, out_csv, provenance.record(config_record))
    summary = ltp_reduction_summary(df, stats["n_boot"], stats["ci"], stats["seed"])
    write_csv(summary, out_summary, provenance.record(config_record))
    log(f"[rejection] {len(df)} rows -> {out_csv}\n{summary.to_string(index=False)}")


# ---------------------------------------------------------------------------------------
# E9: CVaR ranking (Fig. 25) and the claims summary
# ---------------------------------------------------------------------------------------
def cvar_ranking_job(*, stats_csv: str, post_update_pattern: str, algo: str, alphas, out_csv: str,
                     config_record: dict | None = None) -> None:
    """CVaR_alpha of every ``algo`` policy's stored post-update returns, ranked per env
    (``post_update_pattern``: their files by ``{env}``, ``{algo}``, ``{seed}``, ``{step}``)."""
    from ..analyses.rejection import cvar_ranking
    from ..base.checkpoints import read_post_update

    stats = pd.read_csv(stats_csv)
    stats = stats[stats["algo"] == algo]
    df = cvar_ranking(stats, lambda r: read_post_update(post_update_pattern.format(
        env=r.env, algo=r.algo, seed=r.seed, step=r.step))[0], alphas)
    write_csv(df, out_csv, provenance.record(config_record))
    log(f"[cvar_ranking] {len(df)} policies, alphas {list(alphas)} -> {out_csv}")


def fig07_fig26_job(*, ltp_summary_csv: str, rejection_csv: str, out_ltp_png: str, out_ltp_pdf: str,
                    out_freq_png: str, out_freq_pdf: str, dpi: int) -> None:
    """Paper Fig. 7 (LTP reduction with and without rejection) and Fig. 26 (rejection frequency)."""
    from ..analyses.rejection import rejection_frequency
    from ..plots.rejection import fig07_ltp_reduction, fig26_rejection_frequency

    fig07_ltp_reduction(pd.read_csv(ltp_summary_csv), out_ltp_png, out_ltp_pdf, dpi=dpi)
    fig26_rejection_frequency(rejection_frequency(pd.read_csv(rejection_csv)), out_freq_png, out_freq_pdf, dpi=dpi)


def fig24_fig25_job(*, rejection_csv: str, ranking_csv: str, env: str, out_paths_png: str, out_paths_pdf: str,
                    out_rank_png: str, out_rank_pdf: str, dpi: int) -> None:
    """Paper Fig. 24 (Algorithm 1 start -> end on the mean/LTP plane) and Fig. 25 (CVaR ranks)."""
    from ..plots.rejection import fig24_rejection_paths, fig25_cvar_ranking

    ranking = pd.read_csv(ranking_csv)
    fig24_rejection_paths(pd.read_csv(rejection_csv), ranking, env, out_paths_png, out_paths_pdf, dpi=dpi)
    fig25_cvar_ranking(ranking, env, out_rank_png, out_rank_pdf, dpi=dpi)
