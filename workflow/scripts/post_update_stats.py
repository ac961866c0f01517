# E2: statistics of every post-update distribution, one row per policy (Fig. 2 inputs).
from retland.runtime import log_to
from retland.jobs.post_update import post_update_stats_job

with log_to(snakemake.log[0]):
    post_update_stats_job(post_update_paths=list(snakemake.input.h5), stats=snakemake.params.stats,
                          out_csv=snakemake.output.csv, config_record=dict(snakemake.config))
