"""E11 (paper A.6, Fig. 19-21): PPO on the Atari games. Training (E1) and the post-update
distributions (E2) are the shared jobs; here Fig. 19's below-threshold pairs (E7's code,
:func:`retland.jobs.interpolation.btp_pairs_table`, on host-stepped rollouts) and the Atari
figures. Fig. 19's table is E7's ``below_threshold_stats_job`` on these pairs.
"""

from __future__ import annotations

import time

import pandas as pd

from .. import provenance
from ..provenance import write_csv
from ..runtime import log
from .interpolation import btp_pairs_table
from .sources import Policies


def atari_below_threshold_job(*, env: str, stats_csv: str, train_paths, atari: dict, out_csv: str,
                              workers: int = 1, config_record: dict | None = None) -> None:
    """E11, paper A.6, Fig. 19: the below-threshold proportion of random same-run and
    different-run pairs of one Atari game (:func:`btp_pairs_table`, the E7 code; pairs drawn
    from all policies), the rollouts stepped on the host (greedy policies from s_I, the
    authors' evaluation). ``atari``: the config section."""
    from ..runtime import setup_jax

    setup_jax()
    from ..analyses import interpolation as I

    t_job = time.time()
    pol = Policies(train_paths)
    src = pol.src
    prov = provenance.record(config_record, backend=src.attrs["backend"], env=env, algo=atari["algo"])
    # the return: atari.return_definition ("authors": their evaluate_policy, each point's
    # perturbations one group; rollout.HostRollout), default the first life
    evaluator = I.make_path_evaluator(src, atari["horizon"], atari["chunk_size"], workers,
                                      atari.get("return_definition", "first_life"))
    try:
        # A.6 samples pairs of the runs' policies: no screening (pairs whose smaller endpoint
        # return is 0 get an undefined BTP and are counted, not averaged); independent
        # perturbations per point, as the authors' ppo_interpolate.py parallel_eval; the grid
        # of atari.btp_grid ("inclusive": their 50 points with the endpoints, l. 108)
        rnd = btp_pairs_table(env, pd.read_csv(stats_csv), pol, evaluator, section=atari,
                              start=src.env.reference_state(), what="below_threshold_atari", draw="all",
                              shared_perturbations=False)
    finally:
        evaluator.rollout.close()
    write_csv(rnd, out_csv, prov)
    log(f"[below_threshold_atari] {env} done in {time.time() - t_job:.1f}s; mean BTP "
        + ", ".join(f"{k} {g['btp'].mean():.3f} ({g['btp'].notna().sum()} defined)" for k, g in rnd.groupby("kind")))


def fig19_job(*, summary_csv: str, games, out_png: str, out_pdf: str, dpi: int) -> None:
    """Paper Fig. 19: Fig. 6 (:func:`retland.jobs.interpolation.fig06_job`) on the Atari games'
    below-threshold summary."""
    from .interpolation import fig06_job

    fig06_job(summary_csv=summary_csv, out_png=out_png, out_pdf=out_pdf, dpi=dpi, figure="Fig. 19",
              envs="PPO on " + ", ".join(games))


def fig20_fig21_job(*, stats_csv: str, games, post_update_pattern: str, per_game: int, out_scatter_png: str,
                    out_scatter_pdf: str, out_hist_png: str, out_hist_pdf: str, dpi: int) -> None:
    """Fig. 21 (mean vs std per game) and Fig. 20 (histograms of ``per_game`` selected
    policies per game; ``post_update_pattern`` names their files by ``{env}``, ``{algo}``,
    ``{seed}``, ``{step}``)."""
    from ..base.checkpoints import read_post_update
    from ..plots.atari import fig20_histograms_atari, fig21_scatter_atari, select_atari_policies

    stats = pd.read_csv(stats_csv)
    chosen = select_atari_policies(stats, games, per_game)
    log(f"[fig20] selected: {chosen}")
    files = [read_post_update(post_update_pattern.format(**c)) for c in chosen]
    # what the returns count (the files' return_definition; files without one: the first life)
    kinds = sorted({str(f[2].get("return_definition", "first_life")) for f in files})
    fig21_scatter_atari(stats, games, out_scatter_png, out_scatter_pdf, dpi=dpi,
                        return_definition=kinds[0] if len(kinds) == 1 else " / ".join(kinds))
    items = [(c["env"], f"{c['algo'].upper()} run {c['seed']} step {c['step']}", f[0]) for c, f in zip(chosen, files)]
    fig20_histograms_atari(items, out_hist_png, out_hist_pdf, dpi=dpi)
