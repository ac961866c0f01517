# Paper Fig. 2 / 11-13: mean vs std / skewness / LTP, and the highlighted policies' histograms.
from retland.runtime import log_to
from retland.jobs.post_update import fig02_job

with log_to(snakemake.log[0]):
    p, o = snakemake.params, snakemake.output
    fig02_job(stats_csv=snakemake.input.csv, env=snakemake.wildcards.env, post_update_pattern=p.pattern,
              out_png=o.png, out_pdf=o.pdf, out_hist_png=o.hist_png, out_hist_pdf=o.hist_pdf, dpi=p.dpi,
              highlight=p.highlight)
