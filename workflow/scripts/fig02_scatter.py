# Paper Fig. 2 (ant) / Fig. 11-13 (other Brax tasks): post-update statistics scatter.
import pandas as pd

from retland.jobs import log_to
from retland.plots import fig02_scatter

with log_to(snakemake.log[0]):
    fig = snakemake.params.figures
    stats = pd.read_csv(snakemake.input.csv)
    stars = fig02_scatter(stats, snakemake.wildcards.env, snakemake.output.png, snakemake.output.pdf,
                          dpi=fig["dpi"], highlight=fig["highlight"])
    print("highlighted:", stars)
