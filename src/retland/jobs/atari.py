"""E11 (paper A.6, Fig. 19-21): the Atari figures. Training (E1) and the post-update
distributions (E2) are the shared jobs; Fig. 19's pairs are
:func:`retland.jobs.interpolation.atari_below_threshold_job` (the E7 code).
"""

from __future__ import annotations

import pandas as pd

from . import log


def fig20_fig21_job(stats_csv: str, games, post_update_pattern: str, per_game: int, out: dict, dpi: int) -> None:
    """Fig. 21 (mean vs std per game) and Fig. 20 (histograms of ``per_game`` selected
    policies per game; ``post_update_pattern`` names their files by ``{env}``, ``{algo}``,
    ``{seed}``, ``{step}``). ``out``: scatter_png/pdf, hist_png/pdf."""
    from ..base.checkpoints import read_post_update
    from ..plots.atari import fig20_histograms_atari, fig21_scatter_atari, select_atari_policies

    stats = pd.read_csv(stats_csv)
    fig21_scatter_atari(stats, games, out["scatter_png"], out["scatter_pdf"], dpi=dpi)
    chosen = select_atari_policies(stats, games, per_game)
    log(f"[fig20] selected: {chosen}")
    items = [(c["env"], f"{c['algo'].upper()} run {c['seed']} step {c['step']}",
              read_post_update(post_update_pattern.format(**c))[0]) for c in chosen]
    fig20_histograms_atari(items, out["hist_png"], out["hist_pdf"], dpi=dpi)
