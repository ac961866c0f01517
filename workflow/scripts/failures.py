# E4 (paper Sec. 3.2, Fig. 3, 4, 23): re-simulated successful and failing post-update samples.
from retland.runtime import log_to
from retland.jobs.failures import failures_job

with log_to(snakemake.log[0]):
    p, o = snakemake.params, snakemake.output
    failures_job(stats_csv=snakemake.input.csv, env=snakemake.wildcards.env, algo=snakemake.params.algo,
                 train_pattern=p.train_pattern, post_update_pattern=p.post_update_pattern, failures=p.failures,
                 render=p.render, out_h5=o.h5, out_pairs=o.pairs, out_summary=o.summary,
                 config_record=dict(snakemake.config))
