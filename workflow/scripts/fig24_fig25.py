# Paper Fig. 24 (Algorithm 1 start -> end on the mean/LTP plane) and Fig. 25 (alpha-CVaR ranks).
from retland.runtime import log_to
from retland.jobs.rejection import fig24_fig25_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    fig24_fig25_job(rejection_csv=snakemake.input.rejection, ranking_csv=snakemake.input.ranking,
                    env=snakemake.wildcards.env, out_paths_png=o.paths_png, out_paths_pdf=o.paths_pdf,
                    out_rank_png=o.rank_png, out_rank_pdf=o.rank_pdf, dpi=snakemake.params.dpi)
