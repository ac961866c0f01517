# Learning curves of every algorithm and seed (not a paper figure: extra_).
import pandas as pd

from retland.jobs import log_to
from retland.plots import extra_learning_curves

with log_to(snakemake.log[0]):
    extra_learning_curves(pd.read_csv(snakemake.input.csv), snakemake.output.png, snakemake.output.pdf,
                          dpi=snakemake.params.figures["dpi"])
