# Statistics of the post-update distributions (inputs of Fig. 2 / 11-13).
from retland.jobs import log_to, post_update_stats_job

with log_to(snakemake.log[0]):
    post_update_stats_job(list(snakemake.input.h5), snakemake.params.stats, snakemake.output.csv)
