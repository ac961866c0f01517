# Figures: tables in, figures out (restyling never re-runs training or post-updates).


rule fig02_scatter:
    # Paper Fig. 2 (ant) and Fig. 11-13 (other Brax tasks): mean vs std / skewness / LTP,
    # and the post-update histograms of the highlighted (starred) policies.
    input:
        csv=f"{RES}/stats/post_update.csv",
        h5=lambda wc: post_update_files(env=wc.env),
    output:
        png=report(f"{FIGS}/fig02_scatter_{{env}}.png", caption="../report/fig02_scatter.rst", category="E2 post-update distributions", subcategory="{env}"),
        pdf=f"{FIGS}/fig02_scatter_{{env}}.pdf",
        hist_png=report(f"{FIGS}/fig02_histograms_{{env}}.png", caption="../report/fig02_histograms.rst", category="E2 post-update distributions", subcategory="{env}"),
        hist_pdf=f"{FIGS}/fig02_histograms_{{env}}.pdf",
    params:
        figures=canon(config["figures"]),
        pattern=lambda wc: f"{RES}/post_update/{wc.env}/{{algo}}/seed{{seed}}/step{{step}}.h5",
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
