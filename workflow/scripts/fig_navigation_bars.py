# Paper Fig. 6 (below-threshold proportion), Fig. 7 (LTP reduction), Fig. 26 (rejection frequency).
import pandas as pd

from retland.analyses.rejection import rejection_frequency
from retland.jobs import log_to
from retland.plots_navigation import fig06_below_threshold, fig07_ltp_reduction, fig26_rejection_frequency

with log_to(snakemake.log[0]):
    dpi, i, o = snakemake.params.figures["dpi"], snakemake.input, snakemake.output
    fig06_below_threshold(pd.read_csv(i.btp), o.btp_png, o.btp_pdf, dpi=dpi)
    fig07_ltp_reduction(pd.read_csv(i.ltp), o.ltp_png, o.ltp_pdf, dpi=dpi)
    fig26_rejection_frequency(rejection_frequency(pd.read_csv(i.rejection)), o.freq_png, o.freq_pdf, dpi=dpi)
