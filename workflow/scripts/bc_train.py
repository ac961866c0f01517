# E12 (paper A.7, Fig. 22): behaviour cloning of the teachers of one TD3 run.
from retland.runtime import log_to
from retland.jobs.bc import bc_train_job

with log_to(snakemake.log[0]):
    bc_train_job(teacher_path=snakemake.input.teacher, teacher_steps=snakemake.params.teacher_steps,
                 bc=snakemake.params.bc, out_h5=list(snakemake.output.h5),
                 resume_every_minutes=snakemake.resources.resume_every_s / 60.0, config_record=dict(snakemake.config))
