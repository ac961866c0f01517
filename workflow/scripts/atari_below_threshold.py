# E11 (paper A.6, Fig. 19): below-threshold proportion of random pairs of one Atari game (E7 code).
from retland.runtime import log_to
from retland.jobs.atari import atari_below_threshold_job

with log_to(snakemake.log[0]):
    atari_below_threshold_job(env=snakemake.wildcards.env, stats_csv=snakemake.input.stats,
                              train_paths=list(snakemake.input.train), atari=snakemake.params.atari,
                              out_csv=snakemake.output.csv, workers=snakemake.threads,
                              config_record=dict(snakemake.config))
