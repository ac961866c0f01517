# Paper Fig. 5 / 9 (return along the interpolation path) and Fig. 8 (noise-based PURD mean +- std).
import pandas as pd

from retland.jobs import log_to
from retland.plots_navigation import fig05_interpolation, fig08_interpolation_purd

with log_to(snakemake.log[0]):
    env, dpi, o = snakemake.wildcards.env, snakemake.params.figures["dpi"], snakemake.output
    paths = pd.read_csv(snakemake.input.paths)
    fig05_interpolation(paths, env, o.png, o.pdf, dpi=dpi)
    fig08_interpolation_purd(paths, env, o.purd_png, o.purd_pdf, dpi=dpi)
