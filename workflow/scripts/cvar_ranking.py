# E9 (paper App. A.9, Fig. 25): alpha-CVaR of every policy's post-update returns and its rank.
from retland.jobs import log_to
from retland.jobs_navigation import cvar_ranking_job

with log_to(snakemake.log[0]):
    cvar_ranking_job(snakemake.input.stats, snakemake.params.pattern, snakemake.params.algo,
                     snakemake.params.alphas, snakemake.output.csv)
