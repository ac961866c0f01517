# E6 + E7 (paper Sec. 4.1, A.3; Fig. 5, 6, 8, 9, Tab. 2): one job per environment traces one
# path evaluator for the Tab. 2 pairs (Fig. 5 single simulation, Fig. 8 Gaussian
# perturbations at sigma 3e-4) and the random BTP pairs; figure rules read the tables.
rule interpolation:
    input:
        stats=f"{RES}/stats/post_update.csv",
        train=lambda wc: train_files(wc.env, config["interpolation"]["algo"]),
    output:
        pairs=f"{RES}/interpolation/{{env}}/pairs.csv",
        paths=f"{RES}/interpolation/{{env}}/paths.csv",
        btp_pairs=f"{RES}/interpolation/{{env}}/btp_pairs.csv",
    params:
        interpolation=canon(config["interpolation"]),
    log:
        f"{RES}/logs/interpolation/{{env}}.log",
    threads: 2
    priority: PRIORITY["analysis"]
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/interpolation.py"


# Fig. 6 table: every pair's BTP and the rliable mean with 95% stratified-bootstrap CI.
rule below_threshold_stats:
    input:
        csv=expand(f"{RES}/interpolation/{{env}}/btp_pairs.csv", env=BRAX_ENVS),
    output:
        csv=f"{RES}/stats/below_threshold.csv",
        summary=f"{RES}/stats/below_threshold_summary.csv",
    params:
        stats=canon(config["stats"]),
    log:
        f"{RES}/logs/stats/below_threshold.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/below_threshold_stats.py"


# Fig. 5 (and Fig. 9 for the other tasks): return of one simulation along the path between
# the Tab. 2 pairs; Fig. 8: mean +- std of the noise-based post-update distribution.
rule fig05_interpolation:
    input:
        paths=f"{RES}/interpolation/{{env}}/paths.csv",
    output:
        png=report(f"{FIGS}/fig05_interpolation_{{env}}.png", caption="../report/fig05_interpolation.rst", category="E6 interpolation", subcategory="{env}"),
        pdf=f"{FIGS}/fig05_interpolation_{{env}}.pdf",
        purd_png=report(f"{FIGS}/fig08_interpolation_purd_{{env}}.png", caption="../report/fig08_interpolation_purd.rst", category="E6 interpolation", subcategory="{env}"),
        purd_pdf=f"{FIGS}/fig08_interpolation_purd_{{env}}.pdf",
    params:
        dpi=DPI,
    log:
        f"{RES}/logs/figures/fig05_interpolation_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig05_interpolation.py"


# Fig. 6: mean below-threshold proportion, same vs different runs.
rule fig06_below_threshold:
    input:
        summary=f"{RES}/stats/below_threshold_summary.csv",
    output:
        png=report(f"{FIGS}/fig06_below_threshold.png", caption="../report/fig06_below_threshold.rst", category="E7 below-threshold proportion"),
        pdf=f"{FIGS}/fig06_below_threshold.pdf",
    params:
        dpi=DPI,
    log:
        f"{RES}/logs/figures/fig06_below_threshold.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig06_below_threshold.py"
