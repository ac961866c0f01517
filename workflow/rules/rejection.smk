# E8 (paper Sec. 4.2, Algorithm 1; Fig. 7, 24, 26): CVaR_0.1 rejection vs plain TD3, one job
# per environment; E9 (A.9, Fig. 25): alpha-CVaR ranking of every policy.
rule rejection:
    input:
        stats=f"{RES}/stats/post_update.csv",
        train=lambda wc: train_files(wc.env, config["rejection"]["algo"]),
    output:
        csv=f"{RES}/rejection/{{env}}/rejection.csv",
        starts=f"{RES}/rejection/{{env}}/starts.csv",
    params:
        rejection=canon(config["rejection"]),
    log:
        f"{RES}/logs/rejection/{{env}}.log",
    threads: 2
    priority: PRIORITY["analysis"]
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
        csv=expand(f"{RES}/rejection/{{env}}/rejection.csv", env=BRAX_ENVS),
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


# E9 (A.9, Fig. 25): alpha-CVaR of every policy's stored post-update returns, alpha in
# cvar_ranking.alphas, ranked per environment.
rule cvar_ranking:
    input:
        stats=f"{RES}/stats/post_update.csv",
        h5=lambda wc: post_update_files(algo=config["rejection"]["algo"]),
    output:
        csv=f"{RES}/stats/cvar_ranking.csv",
    params:
        alphas=config["cvar_ranking"]["alphas"],
        algo=config["rejection"]["algo"],
        pattern=lambda wc: f"{RES}/post_update/{{env}}/{{algo}}/seed{{seed}}/step{{step}}.h5",
    log:
        f"{RES}/logs/stats/cvar_ranking.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/cvar_ranking.py"


# Fig. 7 (LTP reduction) and Fig. 26 (rejection frequency): aggregate bars.
rule fig07_ltp_reduction:
    input:
        ltp=f"{RES}/stats/ltp_reduction_summary.csv",
        rejection=f"{RES}/stats/rejection.csv",
    output:
        ltp_png=report(f"{FIGS}/fig07_ltp_reduction.png", caption="../report/fig07_ltp_reduction.rst", category="E8 CVaR rejection"),
        ltp_pdf=f"{FIGS}/fig07_ltp_reduction.pdf",
        freq_png=report(f"{FIGS}/fig26_rejection_frequency.png", caption="../report/fig26_rejection_frequency.rst", category="E8 CVaR rejection"),
        freq_pdf=f"{FIGS}/fig26_rejection_frequency.pdf",
    params:
        dpi=DPI,
    log:
        f"{RES}/logs/figures/fig07_ltp_reduction.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig07_ltp_reduction.py"


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
        dpi=DPI,
    log:
        f"{RES}/logs/figures/fig24_fig25_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig24_fig25.py"
