# Paper Fig. 1 (landscape map, histograms, gait frames) and Fig. 27 (maps at three scales).
from retland.runtime import log_to
from retland.jobs.landscape import fig01_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    fig01_job(landscape_h5=snakemake.input.h5, env=snakemake.wildcards.env, out_png=o.png, out_pdf=o.pdf,
              out_png27=o.png27, out_pdf27=o.pdf27, dpi=snakemake.params.dpi)
