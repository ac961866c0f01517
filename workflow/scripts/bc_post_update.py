# E12 (paper A.7, Fig. 22): post-update distributions of the students of one TD3 run.
from retland.runtime import log_to
from retland.jobs.bc import bc_post_update_job

with log_to(snakemake.log[0]):
    bc_post_update_job(train_paths=list(snakemake.input.h5), steps=snakemake.params.steps,
                       post_update=snakemake.params.post_update, out_h5=list(snakemake.output.h5),
                       config_record=dict(snakemake.config))
