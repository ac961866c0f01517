# Learning curves of every training file as one table (extra_learning_curves).
from retland.jobs import learning_curves_job, log_to

with log_to(snakemake.log[0]):
    learning_curves_job(list(snakemake.input.h5), snakemake.output.csv)
