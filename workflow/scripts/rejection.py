# E8 (paper Sec. 4.2, Algorithm 1, Fig. 7, 24, 26): CVaR rejection vs plain TD3.
from retland.runtime import log_to
from retland.jobs.rejection import rejection_job

with log_to(snakemake.log[0]):
    rejection_job(env=snakemake.wildcards.env, stats_csv=snakemake.input.stats, train_paths=list(snakemake.input.train),
                  rejection=snakemake.params.rejection, out_csv=snakemake.output.csv,
                  out_starts=snakemake.output.starts, config_record=dict(snakemake.config))
