# E3 (paper Sec. 3, Fig. 1; A.2, A.11, A.12, Fig. 27): the pair (noisy, smooth) of policies
# of similar mean return (smooth: the lower std and an LTP <= noisy's; SAC policies where the
# run trains SAC, landscape.algo: auto), its landscape maps at 3 zoom levels (grid^2 rollouts each, one
# vmapped batch), post-update histograms and gait frames. The figure rule only reads the
# file the compute rule writes (restyling never re-simulates).
rule landscape:
    input:
        csv=f"{RES}/stats/post_update.csv",
        train=lambda wc: train_files(wc.env, LAND_ALGO),
        h5=lambda wc: post_update_files(wc.env, LAND_ALGO),
    output:
        h5=f"{RES}/landscape/{{env}}/landscape.h5",
        csv=f"{RES}/landscape/{{env}}/pair.csv",
    params:
        landscape=canon({**config["landscape"], "algo": LAND_ALGO}),  # "auto" resolved: sac where trained
        post_update=canon(config["post_update"]),
        render=canon(config["render"]),
        train_pattern=lambda wc: TRAIN_PATTERN.format(env=wc.env),
        post_update_pattern=lambda wc: POST_UPDATE_PATTERN.format(env=wc.env),
    log:
        f"{RES}/logs/landscape/{{env}}.log",
    threads: 2
    priority: PRIORITY["analysis"]
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/landscape.py"


rule fig01_landscape:
    input:
        h5=f"{RES}/landscape/{{env}}/landscape.h5",
    output:
        png=report(f"{FIGS}/fig01_landscape_{{env}}.png", caption="../report/fig01_landscape.rst", category="E3 landscape geometry", subcategory="{env}"),
        pdf=f"{FIGS}/fig01_landscape_{{env}}.pdf",
        png27=report(f"{FIGS}/fig27_multiscale_{{env}}.png", caption="../report/fig27_multiscale.rst", category="E3 landscape geometry", subcategory="{env}"),
        pdf27=f"{FIGS}/fig27_multiscale_{{env}}.pdf",
    params:
        dpi=DPI,
    log:
        f"{RES}/logs/figures/fig01_landscape_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig01_landscape.py"
