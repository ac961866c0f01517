# Return landscapes in continuous control (Rahn et al., NeurIPS 2023), end to end.
# `rule all` = every figure of the config (common.smk all_figures).
from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# One rule file per experiment (README "Experiment map"); train and post_update are the
# stages every analysis starts from.
include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"  # E1
include: "workflow/rules/external.smk"  # agents trained elsewhere (issue 24)
include: "workflow/rules/post_update.smk"  # E2
include: "workflow/rules/landscape.smk"  # E3
include: "workflow/rules/failures.smk"  # E4
include: "workflow/rules/start_states.smk"  # E5
include: "workflow/rules/interpolation.smk"  # E6-E7
include: "workflow/rules/rejection.smk"  # E8-E9
include: "workflow/rules/claims.smk"
include: "workflow/rules/atari.smk"  # E11
include: "workflow/rules/bc.smk"  # E12
include: "workflow/rules/archive.smk"


rule all:
    input:
        all_figures(),
    default_target: True
