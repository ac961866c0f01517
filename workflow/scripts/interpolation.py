# E6-E7 (paper Sec. 4.1, Fig. 5, 6, 8, Tab. 2): returns along interpolation paths; BTP pairs.
from retland.jobs import log_to
from retland.jobs.interpolation import interpolation_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    interpolation_job(env=snakemake.wildcards.env, stats_csv=snakemake.input.stats,
                      train_paths=list(snakemake.input.train), p=snakemake.params.interpolation,
                      out={"pairs": o.pairs, "paths": o.paths, "btp_pairs": o.btp_pairs},
                      config_record=dict(snakemake.config))
