# Paper Fig. 6: mean below-threshold proportion, same vs different runs, rliable 95% CI.
from retland.runtime import log_to
from retland.jobs.interpolation import fig06_job

with log_to(snakemake.log[0]):
    fig06_job(summary_csv=snakemake.input.summary, out_png=snakemake.output.png, out_pdf=snakemake.output.pdf,
              dpi=snakemake.params.dpi)
