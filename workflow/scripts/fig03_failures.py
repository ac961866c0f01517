# Paper Fig. 3 / 23 (rewards per step, race curves) and Fig. 4 (frames before the misstep) of one env.
import pandas as pd

from retland.jobs import log_to
from retland.plots_geometry import fig03_failures, fig04_misstep, read_failures

with log_to(snakemake.log[0]):
    data, env, o = read_failures(snakemake.input.h5), snakemake.wildcards.env, snakemake.output
    dpi = snakemake.params.figures["dpi"]
    fig03_failures(data, pd.read_csv(snakemake.input.summary), env, o.png, o.pdf, dpi=dpi)
    fig04_misstep(data, env, o.png4, o.pdf4, dpi=dpi)
