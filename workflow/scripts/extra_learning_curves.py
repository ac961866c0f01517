# E1: learning curves per environment (not a paper figure).
from retland.runtime import log_to
from retland.jobs.train import learning_curves_figure_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    learning_curves_figure_job(curves_csv=snakemake.input.csv, out_png=o.png, out_pdf=o.pdf, dpi=snakemake.params.dpi)
