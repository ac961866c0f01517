# Paper Fig. 2 (ant) / Fig. 11-13 (other Brax tasks): post-update statistics scatter, and the
# histograms of the starred policies (Fig. 2's insets).
import pandas as pd

from retland.base.checkpoints import read_post_update
from retland.jobs import log_to
from retland.plots import fig02_histograms, fig02_scatter

with log_to(snakemake.log[0]):
    fig = snakemake.params.figures
    env = snakemake.wildcards.env
    stats = pd.read_csv(snakemake.input.csv)
    stars = fig02_scatter(stats, env, snakemake.output.png, snakemake.output.pdf,
                          dpi=fig["dpi"], highlight=fig["highlight"])
    print("highlighted:", stars)
    hists = []
    for s in stars:
        returns = read_post_update(snakemake.params.pattern.format(**s))[0]
        hists.append((f"{s['algo'].upper()} seed {s['seed']} step {s['step']}", returns))
    fig02_histograms(hists, env, snakemake.output.hist_png, snakemake.output.hist_pdf, dpi=fig["dpi"])
