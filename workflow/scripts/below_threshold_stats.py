# E7 (paper Fig. 6): per-pair below-threshold proportions and their rliable summary.
from retland.jobs import log_to
from retland.jobs_navigation import below_threshold_stats_job

with log_to(snakemake.log[0]):
    below_threshold_stats_job(list(snakemake.input.csv), snakemake.params.stats, snakemake.output.csv,
                              snakemake.output.summary)
