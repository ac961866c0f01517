# Paper Fig. 10 (A.4): LTP from replay-buffer start states against their buffer position.
import pandas as pd

from retland.jobs import log_to
from retland.plots_geometry import fig10_ltp_by_state

with log_to(snakemake.log[0]):
    fig10_ltp_by_state(pd.read_csv(snakemake.input.csv), snakemake.wildcards.env, snakemake.output.png,
                       snakemake.output.pdf, dpi=snakemake.params.figures["dpi"])
