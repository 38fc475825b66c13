"""The README's deploy section, followed as written: the parameters it gives a new stack
admit the SageMaker example it then submits (``Guardrails`` from the API function's
environment, as the template sets it from those parameters)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from hyperstep.guardrails import Guardrails
from hyperstep.spec import parse_spec
from tests.template_model import Stack, template

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, BUCKET = "123456789012", "my-bucket"
"""What a reader puts for the README's ``ACCOUNT`` and ``YOUR-BUCKET`` (the example's role
is in account 123456789012)."""


def filled(text: str) -> str:
    return text.replace("ACCOUNT", ACCOUNT).replace("YOUR-BUCKET", BUCKET)


def deploy_parameters() -> dict[str, str]:
    """The ``--parameter-overrides`` of the README's "Deploy (from zero)" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Deploy (from zero)", 1)[1].split("\n### ", 1)[0]
    command = section.partition("--parameter-overrides")[2].split("```", 1)[0]  # none: the defaults
    return dict(pair.split("=", 1) for pair in re.findall(r"([A-Za-z0-9]+=\S+)", filled(command)))


def test_the_deploy_section_s_parameters_admit_the_sagemaker_example_it_submits() -> None:
    """Before, the section gave no parameters but named them: a stack deployed with the
    defaults refused the example, ``trial.training_image: ... is not under an allowed prefix``
    (AWS's scikit-learn image is not in the account's own registry) and ``trial.output_path``
    (no S3 location is allowed by default)."""
    parameters = deploy_parameters()
    document = template()
    stack = Stack(parameters=parameters)
    variables = document["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    guarded = {k: v for k, v in variables.items() if k.startswith(("HYPERSTEP_ALLOWED_", "HYPERSTEP_MAX_"))}
    env = stack.resolve(guarded, document)
    spec = yaml.safe_load(filled((ROOT / "examples/svm-breast-cancer/spec-sagemaker.yaml").read_text()))
    Guardrails.from_env(env).check(parse_spec(spec))
