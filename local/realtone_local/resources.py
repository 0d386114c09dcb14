"""The S3/SQS part of ``template.yaml``, deployed to LocalStack's CloudFormation.

The local bucket, queue, DLQ, queue policy and notification are the template's own
resources, so a change to the template changes the local stack too. LocalStack's
CloudFormation leaves out the bucket's ``LifecycleConfiguration``; the same rules are put
on the bucket through the S3 API afterwards (``lifecycle_rules``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

LOCAL_TYPES = ("AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy")
STACK_NAME = "realtone-local"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short forms (``!Ref``, ``!GetAtt`` …) as their long forms."""


def _construct(tag: str) -> Any:
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"

    def build(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return build


for _tag in (
    "Ref",
    "GetAtt",
    "Sub",
    "Join",
    "Select",
    "Split",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "GetAZs",
    "Base64",
    "ImportValue",
    "Condition",
):
    _CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return yaml.load(f, Loader=_CfnLoader)


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {part.split("}")[0] for part in text.split("${")[1:]}
            found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def local_template(template: dict[str, Any]) -> dict[str, Any]:
    """Only the storage/queue resources, the parameters they use, and outputs for them."""
    resources = {
        name: res for name, res in template["Resources"].items() if res["Type"] in LOCAL_TYPES
    }
    used = _refs(resources)
    parameters = {k: v for k, v in template.get("Parameters", {}).items() if k in used}
    outputs = {}
    for name, res in resources.items():
        if res["Type"] == "AWS::S3::Bucket":
            outputs[f"{name}Name"] = {"Value": {"Ref": name}}
        elif res["Type"] == "AWS::SQS::Queue":
            outputs[f"{name}Url"] = {"Value": {"Ref": name}}
            outputs[f"{name}Arn"] = {"Value": {"Fn::GetAtt": [name, "Arn"]}}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "RealTone storage and queue (generated from template.yaml)",
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs,
    }


def lifecycle_rules(bucket: dict[str, Any]) -> list[dict[str, Any]]:
    """A bucket resource's lifecycle rules in the S3 API's shape
    (``PutBucketLifecycleConfiguration``) rather than CloudFormation's."""
    rules = []
    for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", []):
        prefix = rule.get("Prefix", "")
        tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters", [])]
        condition: dict[str, Any] = {"Prefix": prefix}
        if tags:
            condition = {"And": {"Prefix": prefix, "Tags": tags}}
        api_rule: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": condition}
        if "ExpirationInDays" in rule:
            api_rule["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in rule:
            days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            api_rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
        rules.append(api_rule)
    return rules


def deploy(cfn: Any, s3: Any, template_path: Path, parameters: dict[str, str]) -> dict[str, str]:
    """Create (or replace) the local stack, with its buckets' lifecycle rules; returns its
    outputs by key."""
    template = local_template(load_template(template_path))
    body = json.dumps(template)
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    existing = {
        s["StackName"]
        for s in cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE"]).get("StackSummaries", [])
    }
    if STACK_NAME in existing:
        cfn.delete_stack(StackName=STACK_NAME)
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=STACK_NAME, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    cfn.create_stack(StackName=STACK_NAME, TemplateBody=body, Parameters=params)
    cfn.get_waiter("stack_create_complete").wait(
        StackName=STACK_NAME, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    for name, resource in template["Resources"].items():
        rules = lifecycle_rules(resource) if resource["Type"] == "AWS::S3::Bucket" else []
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=outputs[f"{name}Name"], LifecycleConfiguration={"Rules": rules}
            )
    return outputs
