# E2 (paper Sec. 3.1, Fig. 2): post-update return distributions of one training run's checkpoints.
from retland.jobs import log_to, post_update_job

with log_to(snakemake.log[0]):
    pu = snakemake.params.post_update
    post_update_job(snakemake.input.train, int(snakemake.wildcards.seed), snakemake.params.steps,
                    pu["n_samples"], pu["horizon"], pu["chunk_size"], pu["sample_seed"],
                    list(snakemake.output.h5), config_record=dict(snakemake.config))
