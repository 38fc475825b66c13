"""Package layout (metadata lives in pyproject.toml).

The library is ``layers/hyperstep/hyperstep``; the state machine in ``statemachine/`` ships
with it as ``hyperstep_statemachine``, so a local run runs the very definition SAM deploys,
and the Lambda handlers in ``functions/`` as ``hyperstep_functions`` (the tests import them;
their logic is the library's ``hyperstep.handlers``, which a local run calls directly).
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
    package_data={"hyperstep_statemachine": ["*.json"], "hyperstep_functions.api": ["openapi.json"]},
)
