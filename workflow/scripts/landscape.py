# E3 (paper Fig. 1, 27): landscape maps around a noisy and a smooth policy of similar mean.
from retland.runtime import log_to
from retland.jobs.landscape import landscape_job

with log_to(snakemake.log[0]):
    p, o = snakemake.params, snakemake.output
    landscape_job(stats_csv=snakemake.input.csv, env=snakemake.wildcards.env, train_pattern=p.train_pattern,
                  post_update_pattern=p.post_update_pattern, landscape=p.landscape, post_update=p.post_update,
                  render=p.render, out_h5=o.h5, out_csv=o.csv, config_record=dict(snakemake.config))
