# E3-E5: local geometry of the return landscape (paper Sec. 3: Fig. 1, 3, 4; A.2, A.4, A.8,
# A.11, A.12: Fig. 10, 23, 27). Compute rules (one JAX job per env per experiment) write
# results/{run}/{landscape,failures,start_states}/{env}/; plot rules only read those.

LAND_ALGO = config["landscape"]["algo"]
GEOM_SEEDS = [s for s in config["start_states"]["seeds"] if s in SEEDS]


# Figure paths of E3-E5 for rule all (failures and start states are TD3 experiments).
GEOMETRY_FIGURES = expand(
    f"{FIGS}/{{name}}_{{env}}.{{ext}}",
    name=["fig01_landscape", "fig27_multiscale"]
    + (["fig03_failures", "fig04_misstep", "fig10_ltp_by_state"] if "td3" in config["algos"] else []),
    env=config["envs"],
    ext=["png", "pdf"],
)
TRAIN_PATTERN = f"{RES}/train/{{env}}/{{{{algo}}}}/seed{{{{seed}}}}.h5"
POST_UPDATE_PATTERN = f"{RES}/post_update/{{env}}/{{{{algo}}}}/seed{{{{seed}}}}/step{{{{step}}}}.h5"


# Fig. 1 / 27: the pair (noisy, smooth) of similar mean return, its maps at 3 zoom levels
# (grid^2 rollouts each, one vmapped batch), post-update histograms and gait frames.
rule landscape:
    input:
        csv=f"{RES}/stats/post_update.csv",
        train=lambda wc: train_files(wc.env, LAND_ALGO),
        h5=lambda wc: post_update_files(wc.env, LAND_ALGO),
    output:
        h5=f"{RES}/landscape/{{env}}/landscape.h5",
        csv=f"{RES}/landscape/{{env}}/pair.csv",
    params:
        landscape=canon(config["landscape"]),
        post_update=canon(config["post_update"]),
        render=canon(config["render"]),
        train_pattern=lambda wc: TRAIN_PATTERN.format(env=wc.env),
        post_update_pattern=lambda wc: POST_UPDATE_PATTERN.format(env=wc.env),
    log:
        f"{RES}/logs/landscape/{{env}}.log",
    threads: 2
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/landscape.py"


# Fig. 3 / 23 / 4 (Sec. 3.2): up to failures.max_policies TD3 policies with LTP > 0, one
# successful and one failing post-update sample each, re-simulated with the post-update keys.
rule failures:
    input:
        csv=f"{RES}/stats/post_update.csv",
        train=lambda wc: train_files(wc.env, "td3"),
        h5=lambda wc: post_update_files(wc.env, "td3"),
    output:
        h5=f"{RES}/failures/{{env}}/trajectories.h5",
        pairs=f"{RES}/failures/{{env}}/pairs.csv",
        summary=f"{RES}/failures/{{env}}/summary.csv",
    params:
        failures=canon(config["failures"]),
        render=canon(config["render"]),
        train_pattern=lambda wc: TRAIN_PATTERN.format(env=wc.env),
        post_update_pattern=lambda wc: POST_UPDATE_PATTERN.format(env=wc.env),
    log:
        f"{RES}/logs/failures/{{env}}.log",
    threads: 2
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/failures.py"


# Fig. 10 (A.4): LTP from start states taken from the replay buffer, 3 TD3 seeds.
rule start_states:
    input:
        train=lambda wc: [f"{RES}/train/{wc.env}/td3/seed{s}.h5" for s in GEOM_SEEDS],
    output:
        csv=f"{RES}/start_states/{{env}}/ltp_by_state.csv",
    params:
        seeds=GEOM_SEEDS,
        start_states=canon(config["start_states"]),
        post_update=canon(config["post_update"]),
    log:
        f"{RES}/logs/start_states/{{env}}.log",
    threads: 2
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/start_states.py"


rule fig01_landscape:
    input:
        h5=f"{RES}/landscape/{{env}}/landscape.h5",
    output:
        png=report(f"{FIGS}/fig01_landscape_{{env}}.png", caption="../report/fig01_landscape.rst", category="E3 landscape geometry", subcategory="{env}"),
        pdf=f"{FIGS}/fig01_landscape_{{env}}.pdf",
        png27=report(f"{FIGS}/fig27_multiscale_{{env}}.png", caption="../report/fig27_multiscale.rst", category="E3 landscape geometry", subcategory="{env}"),
        pdf27=f"{FIGS}/fig27_multiscale_{{env}}.pdf",
    params:
        figures=canon(config["figures"]),
    log:
        f"{RES}/logs/figures/fig01_landscape_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig01_landscape.py"


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
        figures=canon(config["figures"]),
    log:
        f"{RES}/logs/figures/fig03_failures_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig03_failures.py"


rule fig10_ltp_by_state:
    input:
        csv=f"{RES}/start_states/{{env}}/ltp_by_state.csv",
    output:
        png=report(f"{FIGS}/fig10_ltp_by_state_{{env}}.png", caption="../report/fig10_ltp_by_state.rst", category="E5 start states", subcategory="{env}"),
        pdf=f"{FIGS}/fig10_ltp_by_state_{{env}}.pdf",
    params:
        figures=canon(config["figures"]),
    log:
        f"{RES}/logs/figures/fig10_ltp_by_state_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig10_ltp_by_state.py"
