"""Return landscapes in continuous control: the analysis package."""

__version__ = "0.1.0"
