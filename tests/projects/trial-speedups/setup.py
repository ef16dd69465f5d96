from setuptools import Extension, setup

# optional: a machine without a compiler still builds (a pure wheel, then).
setup(
    ext_modules=[
        Extension("trial_speedups._speedups", ["src/trial_speedups/_speedups.c"], optional=True)
    ]
)
