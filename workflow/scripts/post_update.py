# E2 (paper Sec. 3.1, Fig. 2): post-update return distributions of one training run's checkpoints.
from retland.runtime import log_to
from retland.jobs.post_update import post_update_job

with log_to(snakemake.log[0]):
    post_update_job(train_path=snakemake.input.train, seed=int(snakemake.wildcards.seed), steps=snakemake.params.steps,
                    post_update=snakemake.params.post_update, out_h5=list(snakemake.output.h5),
                    config_record=dict(snakemake.config), workers=snakemake.threads)
