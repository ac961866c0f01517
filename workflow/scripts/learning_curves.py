# E1: the learning curves of every training run as one table.
from retland.runtime import log_to
from retland.jobs.train import learning_curves_job

with log_to(snakemake.log[0]):
    learning_curves_job(train_paths=list(snakemake.input.h5), out_csv=snakemake.output.csv,
                        config_record=dict(snakemake.config))
