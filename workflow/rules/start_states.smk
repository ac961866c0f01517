# E5 (paper A.4, Fig. 10): LTP from start states taken from the replay buffer, TD3 runs of
# start_states.seeds.
rule start_states:
    input:
        train=lambda wc: [f"{RES}/train/{wc.env}/{START_ALGO}/seed{s}.h5" for s in START_SEEDS],
    output:
        csv=f"{RES}/start_states/{{env}}/ltp_by_state.csv",
    params:
        algo=START_ALGO,  # start_states.algo (paper: TD3)
        seeds=START_SEEDS,
        start_states=canon(config["start_states"]),
        post_update=canon(config["post_update"]),
    log:
        f"{RES}/logs/start_states/{{env}}.log",
    threads: 2
    priority: PRIORITY["analysis"]
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/start_states.py"


rule fig10_ltp_by_state:
    input:
        csv=f"{RES}/start_states/{{env}}/ltp_by_state.csv",
    output:
        png=report(f"{FIGS}/fig10_ltp_by_state_{{env}}.png", caption="../report/fig10_ltp_by_state.rst", category="E5 start states", subcategory="{env}"),
        pdf=f"{FIGS}/fig10_ltp_by_state_{{env}}.pdf",
    params:
        dpi=DPI,
    log:
        f"{RES}/logs/figures/fig10_ltp_by_state_{{env}}.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/fig10_ltp_by_state.py"
