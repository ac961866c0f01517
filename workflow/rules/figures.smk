# Figures: tables in, figures out (restyling never re-runs training or post-updates).


rule fig02_scatter:
    # Paper Fig. 2 (ant) and Fig. 11-13 (other Brax tasks): mean vs std / skewness / LTP.
    input:
        csv=f"{RES}/stats/post_update.csv",
    output:
        png=report(f"{FIGS}/fig02_scatter_{{env}}.png", caption="../report/fig02_scatter.rst", category="E2 post-update distributions", subcategory="{env}"),
        pdf=f"{FIGS}/fig02_scatter_{{env}}.pdf",
    params:
        figures=canon(config["figures"]),
    log:
        f"{RES}/logs/figures/fig02_scatter_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig02_scatter.py"


rule extra_learning_curves:
    input:
        csv=f"{RES}/stats/learning_curves.csv",
    output:
        png=report(f"{FIGS}/extra_learning_curves.png", caption="../report/extra_learning_curves.rst", category="E1 training"),
        pdf=f"{FIGS}/extra_learning_curves.pdf",
    params:
        figures=canon(config["figures"]),
    log:
        f"{RES}/logs/figures/extra_learning_curves.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/extra_learning_curves.py"
