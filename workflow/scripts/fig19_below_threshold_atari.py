# E11 (paper A.6, Fig. 19): mean below-threshold proportion on the Atari games, rliable 95% CI.
from retland.jobs import log_to
from retland.jobs.interpolation import fig06_job

with log_to(snakemake.log[0]):
    fig06_job(summary_csv=snakemake.input.summary, out_png=snakemake.output.png, out_pdf=snakemake.output.pdf,
              dpi=snakemake.params.dpi, figure="Fig. 19", envs="PPO on " + ", ".join(snakemake.params.games))
