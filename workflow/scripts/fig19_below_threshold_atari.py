# E11 (paper A.6, Fig. 19): mean below-threshold proportion on the Atari games, rliable 95% CI.
from retland.runtime import log_to
from retland.jobs.atari import fig19_job

with log_to(snakemake.log[0]):
    fig19_job(summary_csv=snakemake.input.summary, games=snakemake.params.games, out_png=snakemake.output.png,
              out_pdf=snakemake.output.pdf, dpi=snakemake.params.dpi)
