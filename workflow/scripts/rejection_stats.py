# Paper Fig. 7 table: every run's log and the LTP reduction per method with rliable CIs.
from retland.runtime import log_to
from retland.jobs.rejection import rejection_stats_job

with log_to(snakemake.log[0]):
    rejection_stats_job(rejection_csvs=list(snakemake.input.csv), stats=snakemake.params.stats,
                        out_csv=snakemake.output.csv, out_summary=snakemake.output.summary,
                        config_record=dict(snakemake.config))
