# E11 (paper A.6, Fig. 19-21): PPO on the Atari games. Training (E1, train.smk) and the
# post-update distributions (E2, post_update.smk: rule post_update_ppo_atari) are the shared
# rules; these rules make the Atari figures from them.
# (defined only when the config names Atari games: no empty Fig. 19 table to archive)


if ATARI_ENVS:

    # Fig. 19: one job per game: random same-run / different-run pairs, returns along the
    # interpolation path (Gaussian perturbations), below-threshold proportion per pair (E7 code).
    rule atari_below_threshold:
        input:
            stats=f"{RES}/stats/post_update.csv",
            train=lambda wc: train_files(wc.env, config["atari"]["algo"]),
        output:
            csv=f"{RES}/atari/{{env}}/btp_pairs.csv",
        params:
            atari=canon(config["atari"]),
        log:
            f"{RES}/logs/atari/{{env}}/below_threshold.log",
        wildcard_constraints:
            env="|".join(ATARI_ENVS),
        threads: host_threads
        resources:
            **gpu_resources("post_update"),
        conda:
            JAX_ENV
        script:
            "../scripts/atari_below_threshold.py"


    # Fig. 19 table: every pair's BTP and the rliable mean over games with 95% stratified-bootstrap CI.
    rule atari_below_threshold_stats:
        input:
            csv=expand(f"{RES}/atari/{{env}}/btp_pairs.csv", env=ATARI_ENVS),
        output:
            csv=f"{RES}/stats/below_threshold_atari.csv",
            summary=f"{RES}/stats/below_threshold_atari_summary.csv",
        params:
            stats=canon(config["stats"]),
        log:
            f"{RES}/logs/stats/below_threshold_atari.log",
        localrule: True
        conda:
            ANALYSIS_ENV
        script:
            "../scripts/below_threshold_stats.py"


    rule fig19_below_threshold_atari:
        input:
            summary=f"{RES}/stats/below_threshold_atari_summary.csv",
        output:
            png=report(f"{FIGS}/fig19_below_threshold_atari.png", caption="../report/fig19_below_threshold_atari.rst", category="E11 Atari"),
            pdf=f"{FIGS}/fig19_below_threshold_atari.pdf",
        params:
            dpi=DPI,
            games=ATARI_ENVS,
        log:
            f"{RES}/logs/figures/fig19_below_threshold_atari.log",
        localrule: True
        conda:
            ANALYSIS_ENV
        script:
            "../scripts/fig19_below_threshold_atari.py"


    # Fig. 21: mean vs std of every policy's post-update distribution, one panel per game;
    # Fig. 20: the histograms of selected policies of every game.
    rule fig20_fig21_atari:
        input:
            csv=f"{RES}/stats/post_update.csv",
            h5=[f for e in ATARI_ENVS for f in post_update_files(env=e)],
        output:
            scatter_png=report(f"{FIGS}/fig21_scatter_atari.png", caption="../report/fig21_scatter_atari.rst", category="E11 Atari"),
            scatter_pdf=f"{FIGS}/fig21_scatter_atari.pdf",
            hist_png=report(f"{FIGS}/fig20_histograms_atari.png", caption="../report/fig20_histograms_atari.rst", category="E11 Atari"),
            hist_pdf=f"{FIGS}/fig20_histograms_atari.pdf",
        params:
            dpi=DPI,
            games=ATARI_ENVS,
            per_game=config["atari"]["histograms_per_game"],
            pattern=lambda wc: f"{RES}/post_update/{{env}}/{{algo}}/seed{{seed}}/step{{step}}.h5",
        log:
            f"{RES}/logs/figures/fig20_fig21_atari.log",
        localrule: True
        conda:
            ANALYSIS_ENV
        script:
            "../scripts/fig20_fig21_atari.py"
