# Paper Fig. 6 table: every pair's BTP and the rliable summary.
from retland.runtime import log_to
from retland.jobs.interpolation import below_threshold_stats_job

with log_to(snakemake.log[0]):
    below_threshold_stats_job(btp_csvs=list(snakemake.input.csv), stats=snakemake.params.stats,
                              out_csv=snakemake.output.csv, out_summary=snakemake.output.summary,
                              config_record=dict(snakemake.config))
