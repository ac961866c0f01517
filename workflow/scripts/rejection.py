# E8 (paper Sec. 4.2, Algorithm 1): CVaR rejection vs plain TD3 from the start policies of one environment.
from retland.jobs import log_to
from retland.jobs_navigation import rejection_job

with log_to(snakemake.log[0]):
    rejection_job(snakemake.wildcards.env, snakemake.input.stats, list(snakemake.input.train),
                  snakemake.params.rejection, snakemake.output.csv, snakemake.output.starts,
                  config_record=dict(snakemake.config))
