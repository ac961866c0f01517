# Paper Fig. 24 (Algorithm 1 start -> end on the mean/LTP plane) and Fig. 25 (alpha-CVaR ranks).
import pandas as pd

from retland.jobs import log_to
from retland.plots_navigation import fig24_rejection_paths, fig25_cvar_ranking

with log_to(snakemake.log[0]):
    env, dpi, o = snakemake.wildcards.env, snakemake.params.figures["dpi"], snakemake.output
    ranking = pd.read_csv(snakemake.input.ranking)
    fig24_rejection_paths(pd.read_csv(snakemake.input.rejection), ranking, env, o.paths_png, o.paths_pdf, dpi=dpi)
    fig25_cvar_ranking(ranking, env, o.rank_png, o.rank_pdf, dpi=dpi)
