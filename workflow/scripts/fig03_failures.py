# Paper Fig. 3 / 23 (reward per step, race curves) and Fig. 4 (frames before the misstep).
from retland.runtime import log_to
from retland.jobs.failures import fig03_job

with log_to(snakemake.log[0]):
    i, o = snakemake.input, snakemake.output
    fig03_job(trajectories_h5=i.h5, summary_csv=i.summary, env=snakemake.wildcards.env, out_png=o.png,
              out_pdf=o.pdf, out_png4=o.png4, out_pdf4=o.pdf4, dpi=snakemake.params.dpi)
