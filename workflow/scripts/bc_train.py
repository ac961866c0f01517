# E12 (paper A.7, Fig. 22): behaviour cloning of the teachers of one TD3 run.
from retland.jobs import log_to
from retland.jobs_bc import bc_train_job

with log_to(snakemake.log[0]):
    bc_train_job(snakemake.input.teacher, snakemake.params.teacher_steps, snakemake.params.bc,
                 list(snakemake.output.h5), config_record=dict(snakemake.config),
                 # not a param: the resume frequency never changes results
                 resume_every_minutes=snakemake.config["train"].get("resume_every_minutes", 10))
