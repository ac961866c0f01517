# Paper Fig. 1 (landscape, post-update histogram, gait) and Fig. 27 (multi-scale maps) of one env.
from retland.jobs import log_to
from retland.plots_geometry import fig01_landscape, fig27_multiscale, read_landscape

with log_to(snakemake.log[0]):
    data, env, o = read_landscape(snakemake.input.h5), snakemake.wildcards.env, snakemake.output
    dpi = snakemake.params.figures["dpi"]
    fig01_landscape(data, env, o.png, o.pdf, dpi=dpi)
    fig27_multiscale(data, env, o.png27, o.pdf27, dpi=dpi)
