# E3 (paper Fig. 1, 27; A.2, A.12): landscape maps around a noisy and a smooth policy of one env.
from retland.jobs import log_to
from retland.jobs_geometry import landscape_job

with log_to(snakemake.log[0]):
    p = snakemake.params
    landscape_job(snakemake.input.csv, snakemake.wildcards.env, p.train_pattern, p.post_update_pattern,
                  p.landscape, p.post_update, p.render, snakemake.output.h5, snakemake.output.csv,
                  config_record=dict(snakemake.config))
