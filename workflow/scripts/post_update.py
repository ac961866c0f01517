# E2 (paper Sec. 3.1, Fig. 2): post-update return distributions of one training run's checkpoints.
from retland.jobs import log_to
from retland.jobs.post_update import post_update_job

with log_to(snakemake.log[0]):
    pu = snakemake.params.post_update
    post_update_job(train_path=snakemake.input.train, seed=int(snakemake.wildcards.seed), steps=snakemake.params.steps,
                    n_samples=pu["n_samples"], horizon=pu["horizon"], chunk_size=pu["chunk_size"],
                    sample_seed=pu["sample_seed"], out_paths=list(snakemake.output.h5),
                    config_record=dict(snakemake.config), workers=snakemake.threads)
