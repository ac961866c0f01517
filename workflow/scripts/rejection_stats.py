# E8 (paper Fig. 7): the per-iteration log of Algorithm 1 / TD3 and the rliable LTP-reduction summary.
from retland.jobs import log_to
from retland.jobs_navigation import rejection_stats_job

with log_to(snakemake.log[0]):
    rejection_stats_job(list(snakemake.input.csv), snakemake.params.stats, snakemake.output.csv,
                        snakemake.output.summary)
