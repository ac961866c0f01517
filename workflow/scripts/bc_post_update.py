# E12 (paper A.7, Fig. 22): post-update distributions of the students of one TD3 run.
from retland.jobs import log_to
from retland.jobs.bc import bc_post_update_job

with log_to(snakemake.log[0]):
    steps, outs = snakemake.params.steps, list(snakemake.output.h5)
    bc_post_update_job(train_paths=list(snakemake.input.h5), steps=steps, post_update=snakemake.params.post_update,
                       out_paths_by_file=[outs[i * len(steps):(i + 1) * len(steps)] for i in range(len(snakemake.input.h5))],
                       config_record=dict(snakemake.config))
