"""Return landscapes in continuous control: the analysis package.

The public Python API (:mod:`retland.api`: the paper's lenses for any JAX policy) is
exported here lazily (PEP 562): ``retland.post_update_distribution`` imports
``retland.api`` on first use, so ``import retland`` imports no JAX (the workflow's parse
relies on it).
"""

__version__ = "0.1.0"

#: the names of :mod:`retland.api` exported here (its ``__all__``)
_API = (
    "Policy", "environment", "post_update_distribution", "post_update_params", "return_statistics",
    "landscape_map", "interpolation_path", "failure_anatomy", "plot_post_update", "plot_landscape",
    "plot_interpolation", "path_table", "interpolation_table", "fig01_landscape", "fig02_histograms",
    "fig02_scatter", "fig03_failures", "fig05_interpolation", "fig06_below_threshold",
    "fig08_interpolation_purd", "fig27_multiscale", "read_landscape",
)


def __getattr__(name: str):
    if name in _API:
        # importlib, not an import statement: the API (a top layer, docs/design.md section 2)
        # is reached from the root only on demand, never when the package is imported
        import importlib

        return getattr(importlib.import_module(f"{__name__}.api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
