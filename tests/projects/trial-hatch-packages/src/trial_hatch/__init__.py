from trial_hatch_core import VALUE

__all__ = ["VALUE"]
