# Paper Fig. 5 / 9 (returns along the Tab. 2 paths) and Fig. 8 (noise-based distribution along them).
from retland.runtime import log_to
from retland.jobs.interpolation import fig05_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    fig05_job(paths_csv=snakemake.input.paths, env=snakemake.wildcards.env, out_png=o.png, out_pdf=o.pdf,
              out_purd_png=o.purd_png, out_purd_pdf=o.purd_pdf, dpi=snakemake.params.dpi)
