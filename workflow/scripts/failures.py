# E4 (paper Sec. 3.2, Fig. 3, 4, 23): successful vs failing post-update trajectories of one env.
from retland.jobs import log_to
from retland.jobs_geometry import failures_job

with log_to(snakemake.log[0]):
    p = snakemake.params
    failures_job(snakemake.input.csv, snakemake.wildcards.env, "td3", p.train_pattern, p.post_update_pattern,
                 p.failures, p.render, snakemake.output.h5, snakemake.output.pairs, snakemake.output.summary,
                 config_record=dict(snakemake.config))
