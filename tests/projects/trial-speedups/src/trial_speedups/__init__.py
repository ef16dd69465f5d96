try:
    from trial_speedups._speedups import add

    SPEEDUPS = True
except ImportError:
    from trial_speedups._pure import add

    SPEEDUPS = False

__all__ = ["SPEEDUPS", "add"]
