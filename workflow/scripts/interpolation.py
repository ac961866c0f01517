# E6-E7 (paper Sec. 4.1, Fig. 5, 6, 8, Tab. 2): returns along interpolation paths; BTP pairs.
from retland.runtime import log_to
from retland.jobs.interpolation import interpolation_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    interpolation_job(env=snakemake.wildcards.env, stats_csv=snakemake.input.stats,
                      train_paths=list(snakemake.input.train), interpolation=snakemake.params.interpolation,
                      out_pairs=o.pairs, out_paths=o.paths, out_btp_pairs=o.btp_pairs,
                      config_record=dict(snakemake.config))
