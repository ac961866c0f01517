# Navigating the landscape (paper Sec. 4, App. A.3, A.9, A.10): experiments E6-E9.
# Compute rules (JAX) write tables; figure rules (local, no JAX) read them.
NAV_INTERP = config["interpolation"]
NAV_REJECT = config["rejection"]


# Fig. 5 (+9), 6, 7, 8, 24, 25, 26 of the config's environments (png + pdf), and the claims
# summary; all_figures() (common.smk) adds them to `rule all`.
NAVIGATION_TARGETS = expand(
    f"{FIGS}/{{slug}}_{{env}}.{{ext}}",
    slug=["fig05_interpolation", "fig08_interpolation_purd", "fig24_rejection_paths", "fig25_cvar_ranking"],
    env=config["envs"],
    ext=["png", "pdf"],
) + expand(
    f"{FIGS}/{{slug}}.{{ext}}",
    slug=["fig06_below_threshold", "fig07_ltp_reduction", "fig26_rejection_frequency"],
    ext=["png", "pdf"],
) + [f"{RES}/stats/claims.md"]


# E6 + E7 (Sec. 4.1, A.3; Fig. 5, 6, 8, 9, Tab. 2): one job per environment traces one
# path evaluator for the Tab. 2 pairs (Fig. 5 single simulation, Fig. 8 1000 Gaussian
# perturbations at sigma 3e-4) and the random BTP pairs (500 + 500, 100 points).
rule interpolation:
    input:
        stats=f"{RES}/stats/post_update.csv",
        train=lambda wc: train_files(wc.env, NAV_INTERP["algo"]),
    output:
        pairs=f"{RES}/interpolation/{{env}}/pairs.csv",
        paths=f"{RES}/interpolation/{{env}}/paths.csv",
        btp_pairs=f"{RES}/interpolation/{{env}}/btp_pairs.csv",
    params:
        interpolation=canon(NAV_INTERP),
    log:
        f"{RES}/logs/interpolation/{{env}}.log",
    threads: 2
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/interpolation.py"


# Fig. 6 table: every pair's BTP and the rliable mean with 95% stratified-bootstrap CI.
rule below_threshold_stats:
    input:
        csv=expand(f"{RES}/interpolation/{{env}}/btp_pairs.csv", env=config["envs"]),
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


# E8 (Sec. 4.2, Algorithm 1; Fig. 7, 24, 26): CVaR_0.1 rejection vs plain TD3, 40 steps,
# >= 10 start policies x 5 runs per environment at paper scale; one job per environment.
rule rejection:
    input:
        stats=f"{RES}/stats/post_update.csv",
        train=lambda wc: train_files(wc.env, NAV_REJECT["algo"]),
    output:
        csv=f"{RES}/rejection/{{env}}/rejection.csv",
        starts=f"{RES}/rejection/{{env}}/starts.csv",
    params:
        rejection=canon(NAV_REJECT),
    log:
        f"{RES}/logs/rejection/{{env}}.log",
    threads: 2
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/rejection.py"


# Fig. 7 table: the per-iteration log of every run and the LTP reduction (start minus end)
# per method with rliable 95% CIs (environments as tasks).
rule rejection_stats:
    input:
        csv=expand(f"{RES}/rejection/{{env}}/rejection.csv", env=config["envs"]),
    output:
        csv=f"{RES}/stats/rejection.csv",
        summary=f"{RES}/stats/ltp_reduction_summary.csv",
    params:
        stats=canon(config["stats"]),
    log:
        f"{RES}/logs/stats/rejection.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/rejection_stats.py"


# E9 (App. A.9, Fig. 25): alpha-CVaR of every policy's stored post-update returns, alpha in
# {0.01, 0.1, 1.0}, ranked per environment.
rule cvar_ranking:
    input:
        stats=f"{RES}/stats/post_update.csv",
        h5=lambda wc: post_update_files(algo=NAV_REJECT["algo"]),
    output:
        csv=f"{RES}/stats/cvar_ranking.csv",
    params:
        alphas=config["cvar_ranking"]["alphas"],
        algo=NAV_REJECT["algo"],
        pattern=lambda wc: f"{RES}/post_update/{{env}}/{{algo}}/seed{{seed}}/step{{step}}.h5",
    log:
        f"{RES}/logs/stats/cvar_ranking.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/cvar_ranking.py"


# The three claims of Sec. 4 ((a) spread at similar mean, (b) same- vs different-run BTP,
# (c) LTP reduction of Algorithm 1 vs TD3), each with CIs and "holds / does not hold".
rule claims:
    input:
        stats=f"{RES}/stats/post_update.csv",
        btp=f"{RES}/stats/below_threshold_summary.csv",
        ltp=f"{RES}/stats/ltp_reduction_summary.csv",
    output:
        md=f"{RES}/stats/claims.md",
        csv=f"{RES}/stats/claims.csv",
    params:
        claims=canon(config["claims"]),
        stats=canon(config["stats"]),
        algo=NAV_INTERP["algo"],
    log:
        f"{RES}/logs/stats/claims.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/claims.py"


# Fig. 5 (and Fig. 9 for the other tasks): return of one simulation along the path between
# the Tab. 2 pairs; Fig. 8: mean +- std of the noise-based post-update distribution.
rule fig05_interpolation:
    input:
        paths=f"{RES}/interpolation/{{env}}/paths.csv",
        pairs=f"{RES}/interpolation/{{env}}/pairs.csv",
    output:
        png=report(f"{FIGS}/fig05_interpolation_{{env}}.png", caption="../report/fig05_interpolation.rst", category="E6 interpolation", subcategory="{env}"),
        pdf=f"{FIGS}/fig05_interpolation_{{env}}.pdf",
        purd_png=report(f"{FIGS}/fig08_interpolation_purd_{{env}}.png", caption="../report/fig08_interpolation_purd.rst", category="E6 interpolation", subcategory="{env}"),
        purd_pdf=f"{FIGS}/fig08_interpolation_purd_{{env}}.pdf",
    params:
        figures=canon(config["figures"]),
    log:
        f"{RES}/logs/figures/fig05_interpolation_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig05_interpolation.py"


# Fig. 6 (BTP), Fig. 7 (LTP reduction) and Fig. 26 (rejection frequency): aggregate bars.
rule fig_navigation_bars:
    input:
        btp=f"{RES}/stats/below_threshold_summary.csv",
        ltp=f"{RES}/stats/ltp_reduction_summary.csv",
        rejection=f"{RES}/stats/rejection.csv",
    output:
        btp_png=report(f"{FIGS}/fig06_below_threshold.png", caption="../report/fig06_below_threshold.rst", category="E7 below-threshold proportion"),
        btp_pdf=f"{FIGS}/fig06_below_threshold.pdf",
        ltp_png=report(f"{FIGS}/fig07_ltp_reduction.png", caption="../report/fig07_ltp_reduction.rst", category="E8 CVaR rejection"),
        ltp_pdf=f"{FIGS}/fig07_ltp_reduction.pdf",
        freq_png=report(f"{FIGS}/fig26_rejection_frequency.png", caption="../report/fig26_rejection_frequency.rst", category="E8 CVaR rejection"),
        freq_pdf=f"{FIGS}/fig26_rejection_frequency.pdf",
    params:
        figures=canon(config["figures"]),
    log:
        f"{RES}/logs/figures/fig_navigation_bars.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig_navigation_bars.py"


# Fig. 24 (start -> end of Algorithm 1 on the mean/LTP plane) and Fig. 25 (alpha-CVaR ranks).
rule fig24_fig25:
    input:
        rejection=f"{RES}/stats/rejection.csv",
        ranking=f"{RES}/stats/cvar_ranking.csv",
    output:
        paths_png=report(f"{FIGS}/fig24_rejection_paths_{{env}}.png", caption="../report/fig24_rejection_paths.rst", category="E8 CVaR rejection", subcategory="{env}"),
        paths_pdf=f"{FIGS}/fig24_rejection_paths_{{env}}.pdf",
        rank_png=report(f"{FIGS}/fig25_cvar_ranking_{{env}}.png", caption="../report/fig25_cvar_ranking.rst", category="E9 CVaR ranking", subcategory="{env}"),
        rank_pdf=f"{FIGS}/fig25_cvar_ranking_{{env}}.pdf",
    params:
        figures=canon(config["figures"]),
    log:
        f"{RES}/logs/figures/fig24_fig25_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig24_fig25.py"
