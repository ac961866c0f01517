# E2 (paper Sec. 3.1, Fig. 2, 11-13; A.5-A.6, Fig. 14-18, 20-21): post-update return
# distributions of every checkpoint of one training run (one job per training file: the
# estimator is traced once per job). One rule per algorithm and checkpoint schedule
# (post_update_td3, post_update_sac, post_update_ppo; post_update_ppo_atari where a suite
# section gives the Atari games their own schedule, post_update_<algo>_<suite> in general;
# common.smk post_update_schedules): a rule's outputs are fixed patterns. Threads: see train.smk.
for _algo in ALGOS:  # trained and imported (external.smk)
    for _name, (_envs, _steps) in post_update_schedules(_algo).items():

        rule:
            name:
                _name
            input:
                train=f"{RES}/train/{{env}}/{_algo}/seed{{seed}}.h5",
            output:
                h5=[f"{RES}/post_update/{{env}}/{_algo}/seed{{seed}}/step{k}.h5" for k in _steps],
            params:
                steps=list(_steps),
                post_update=lambda wc: canon(env_settings(wc.env)["post_update"]),
            log:
                f"{RES}/logs/post_update/{{env}}/{_algo}/seed{{seed}}.log",
            wildcard_constraints:
                env="|".join(_envs),
            threads: host_threads
            priority: PRIORITY["post_update"]
            resources:
                **gpu_resources("post_update"),
            conda:
                JAX_ENV
            script:
                "../scripts/post_update.py"


# Statistics of every post-update distribution (docs/design.md "Statistics"; Fig. 2 inputs).
rule post_update_stats:
    input:
        h5=post_update_files(),
    output:
        csv=f"{RES}/stats/post_update.csv",
    params:
        stats=canon(config["stats"]),
    log:
        f"{RES}/logs/stats/post_update.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/post_update_stats.py"


rule fig02_scatter:
    # Paper Fig. 2 (ant) and Fig. 11-13 (other Brax tasks), and Fig. 14-18 (E10, the five
    # DeepMind Control tasks): mean vs std / skewness / LTP, and the post-update histograms
    # of the highlighted (starred) policies.
    input:
        csv=f"{RES}/stats/post_update.csv",
        h5=lambda wc: post_update_files(env=wc.env),
    output:
        png=report(f"{FIGS}/fig02_scatter_{{env}}.png", caption="../report/fig02_scatter.rst", category="E2 post-update distributions", subcategory="{env}"),
        pdf=f"{FIGS}/fig02_scatter_{{env}}.pdf",
        hist_png=report(f"{FIGS}/fig02_histograms_{{env}}.png", caption="../report/fig02_histograms.rst", category="E2 post-update distributions", subcategory="{env}"),
        hist_pdf=f"{FIGS}/fig02_histograms_{{env}}.pdf",
    params:
        dpi=DPI,
        highlight=config["figures"]["highlight"],
        pattern=lambda wc: POST_UPDATE_PATTERN.format(env=wc.env),
    log:
        f"{RES}/logs/figures/fig02_scatter_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig02_scatter.py"
