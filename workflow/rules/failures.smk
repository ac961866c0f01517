# E4 (paper Sec. 3.2, Fig. 3, 4; A.8, Fig. 23): up to failures.max_policies TD3 policies with
# LTP > 0, one successful and one failing post-update sample each, re-simulated with the
# post-update keys; the figure rule only reads the file the compute rule writes.
rule failures:
    input:
        csv=f"{RES}/stats/post_update.csv",
        train=lambda wc: train_files(wc.env, FAIL_ALGO),
        h5=lambda wc: post_update_files(wc.env, FAIL_ALGO),
    output:
        h5=f"{RES}/failures/{{env}}/trajectories.h5",
        pairs=f"{RES}/failures/{{env}}/pairs.csv",
        summary=f"{RES}/failures/{{env}}/summary.csv",
    params:
        algo=FAIL_ALGO,  # failures.algo (paper: TD3)
        failures=canon(config["failures"]),
        render=canon(config["render"]),
        train_pattern=lambda wc: TRAIN_PATTERN.format(env=wc.env),
        post_update_pattern=lambda wc: POST_UPDATE_PATTERN.format(env=wc.env),
    log:
        f"{RES}/logs/failures/{{env}}.log",
    threads: 2
    priority: PRIORITY["analysis"]
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/failures.py"


rule fig03_failures:
    input:
        h5=f"{RES}/failures/{{env}}/trajectories.h5",
        summary=f"{RES}/failures/{{env}}/summary.csv",
    output:
        png=report(f"{FIGS}/fig03_failures_{{env}}.png", caption="../report/fig03_failures.rst", category="E4 failures", subcategory="{env}"),
        pdf=f"{FIGS}/fig03_failures_{{env}}.pdf",
        png4=report(f"{FIGS}/fig04_misstep_{{env}}.png", caption="../report/fig04_misstep.rst", category="E4 failures", subcategory="{env}"),
        pdf4=f"{FIGS}/fig04_misstep_{{env}}.pdf",
    params:
        dpi=DPI,
    log:
        f"{RES}/logs/figures/fig03_failures_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig03_failures.py"
