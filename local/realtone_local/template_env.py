"""The environment each function gets from ``template.yaml``, resolved as CloudFormation would.

Globals are merged into each function's variables; ``!Ref``, ``!Sub``, ``!Join`` and
``!GetAtt`` are resolved against a ``Deployment`` (region, account, parameters, the
physical ids of resources) and ``{{resolve:secretsmanager:…}}`` dynamic references against
its secrets. The boot tests start every entry point with exactly this environment, so a
variable the template forgets (or a value it gets wrong) fails a test instead of a deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_DYNAMIC = re.compile(r"\{\{resolve:secretsmanager:([^:}]+):SecretString\}\}")
_SUB = re.compile(r"\$\{([^}]+)\}")


class TemplateError(ValueError):
    pass


@dataclass
class Deployment:
    region: str
    account_id: str = "123456789012"
    parameters: dict[str, str] = field(default_factory=dict)
    # Physical ids (what !Ref gives) and attributes ("Name.Attr") of resources.
    resources: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "realtone",
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]


class Resolver:
    def __init__(self, template: dict[str, Any], deployment: Deployment) -> None:
        self.template = template
        self.deployment = deployment

    def ref(self, name: str) -> Any:
        d = self.deployment
        if name.startswith("AWS::"):
            return d.pseudo(name)
        parameters = self.template.get("Parameters", {})
        if name in parameters:
            value = d.parameters.get(name, parameters[name].get("Default"))
            if value is None:
                raise TemplateError(f"parameter {name} has no default and no value")
            if parameters[name]["Type"] == "CommaDelimitedList":
                return [v for v in str(value).split(",") if v]
            return str(value)
        if name in d.resources:
            return d.resources[name]
        raise TemplateError(f"no value for !Ref {name}: add it to Deployment.resources")

    def get_att(self, resource: str, attribute: str) -> str:
        key = f"{resource}.{attribute}"
        if key not in self.deployment.attributes:
            raise TemplateError(f"no value for !GetAtt {key}: add it to Deployment.attributes")
        return self.deployment.attributes[key]

    def secrets(self, text: str) -> str:
        def secret(match: re.Match[str]) -> str:
            if match.group(1) not in self.deployment.secrets:
                raise TemplateError(f"no value for the secret {match.group(1)}")
            return self.deployment.secrets[match.group(1)]

        return _DYNAMIC.sub(secret, text)

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        return self.secrets(_SUB.sub(one, text))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, str):
            return self.secrets(node)
        if isinstance(node, list):
            return [self.resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), *_ = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                return self.get_att(*value)
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                return self.sub(text, variables)
            if key == "Fn::Join":
                separator, parts = value
                return separator.join(str(p) for p in self.resolve(parts))
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not resolved here")
        return {k: self.resolve(v) for k, v in node.items()}


def function_environment(
    template: dict[str, Any], logical_id: str, deployment: Deployment
) -> dict[str, str]:
    """What Lambda sets as the function's variables (Globals first, the function's over them)."""
    resolver = Resolver(template, deployment)
    glob = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    own = template["Resources"][logical_id]["Properties"].get("Environment", {})
    variables = {**glob.get("Variables", {}), **own.get("Variables", {})}
    return {name: str(resolver.resolve(value)) for name, value in variables.items()}


def task_environment(
    template: dict[str, Any], logical_id: str, container: str, deployment: Deployment
) -> dict[str, str]:
    """The variables of one container of an ECS task definition."""
    resolver = Resolver(template, deployment)
    definitions = template["Resources"][logical_id]["Properties"]["ContainerDefinitions"]
    (definition,) = [d for d in definitions if d["Name"] == container]
    return {e["Name"]: str(resolver.resolve(e["Value"])) for e in definition.get("Environment", [])}
