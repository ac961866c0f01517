# E12 (paper A.7, Fig. 22): post-update distributions of the students of one TD3 run.
from retland.jobs import log_to
from retland.jobs_bc import bc_post_update_job

with log_to(snakemake.log[0]):
    steps = snakemake.params.steps
    outs = list(snakemake.output.h5)
    by_file = [outs[i * len(steps):(i + 1) * len(steps)] for i in range(len(snakemake.input.h5))]
    bc_post_update_job(list(snakemake.input.h5), steps, snakemake.params.post_update, by_file,
                       config_record=dict(snakemake.config))
