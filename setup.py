"""Package layout (metadata lives in pyproject.toml).

The library is ``layers/hyperstep/hyperstep``; the Lambda handlers in ``functions/`` and
the state machine in ``statemachine/`` ship with it as ``hyperstep_functions`` and
``hyperstep_statemachine``, so a local run uses the very files SAM deploys.
"""

from setuptools import find_packages, setup

library = find_packages("layers/hyperstep", include=["hyperstep", "hyperstep.*"])
functions = ["hyperstep_functions"] + [f"hyperstep_functions.{p}" for p in find_packages("functions")]

setup(
    packages=[*library, *functions, "hyperstep_statemachine"],
    package_dir={
        "hyperstep": "layers/hyperstep/hyperstep",
        "hyperstep_functions": "functions",
        "hyperstep_statemachine": "statemachine",
    },
    package_data={"hyperstep_statemachine": ["*.json"]},
)
