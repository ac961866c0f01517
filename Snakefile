# Return landscapes in continuous control (Rahn et al., NeurIPS 2023), end to end.
# `rule all` = every figure of the config. Stages: workflow/rules/*.smk.
from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/post_update.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/navigation.smk"
include: "workflow/rules/geometry.smk"
include: "workflow/rules/bc.smk"
include: "workflow/rules/archive.smk"


rule all:
    input:
        all_figures(),
    default_target: True
