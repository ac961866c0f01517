# E9 (paper A.9, Fig. 25): alpha-CVaR ranking of every policy's post-update returns.
from retland.runtime import log_to
from retland.jobs.rejection import cvar_ranking_job

with log_to(snakemake.log[0]):
    p = snakemake.params
    cvar_ranking_job(stats_csv=snakemake.input.stats, post_update_pattern=p.pattern, algo=p.algo, alphas=p.alphas,
                     out_csv=snakemake.output.csv, config_record=dict(snakemake.config))
