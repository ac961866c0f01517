# E11 (paper A.6): Fig. 21 (mean vs std per game) and Fig. 20 (histograms of selected policies).
from retland.runtime import log_to
from retland.jobs.atari import fig20_fig21_job

with log_to(snakemake.log[0]):
    o, p = snakemake.output, snakemake.params
    fig20_fig21_job(stats_csv=snakemake.input.csv, games=p.games, post_update_pattern=p.pattern,
                    per_game=p.per_game, out_scatter_png=o.scatter_png, out_scatter_pdf=o.scatter_pdf,
                    out_hist_png=o.hist_png, out_hist_pdf=o.hist_pdf, dpi=p.dpi)
