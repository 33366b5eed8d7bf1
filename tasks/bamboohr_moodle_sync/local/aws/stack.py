"""Stands up template.yaml's own resources in a local moto server: the offline counterpart of ``sam deploy``.

The template is parsed with cfn_flip (short-form tags included) and its intrinsic functions are resolved
against local values: parameters from ``parameters`` or their Default, pseudo parameters for a fixed
account/region, and each resource's Ref/GetAtt as moto will name it. Created: the DynamoDB table (with TTL),
the SNS topic (plus an SQS queue subscribed to it so that the runner and tests can read what was published),
the Secrets Manager secrets (the emulators' credentials), IAM roles, the ECS cluster and task definition,
and the state machine from its DefinitionUri file with DefinitionSubstitutions applied: one ASL file.
A VPC, subnet and security group stand in for the network parameters (moto's awsvpc RunTask needs them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape
from cfn_tools import load_yaml


class ClientFactory(Protocol):
    """A boto3 session (or anything with its ``client(service)``) pointed at the local endpoint."""

    def client(self, service: str) -> Any: ...


ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "bamboohr-moodle-sync-local"
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml as a plain dict (``!Ref`` and friends become ``{"Ref": ...}``)."""
    loaded: dict[str, Any] = load_yaml(path.read_text(encoding="utf-8"))
    return loaded


def resources_of(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") == kind}


def substitution_names(asl_text: str) -> set[str]:
    """The ``${Name}`` placeholders in an ASL file (what DefinitionSubstitutions must provide)."""
    return set(_SUB.findall(asl_text))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """SAM's DefinitionSubstitutions: each ``${Name}`` replaced by its value; unknown names raise."""
    missing = substitution_names(text) - set(values)
    if missing:
        raise KeyError(f"no DefinitionSubstitutions for {sorted(missing)}")
    return _SUB.sub(lambda m: values[m.group(1)], text)


@dataclass
class Resolver:
    """Resolves CloudFormation intrinsics against local values."""

    template: Mapping[str, Any]
    parameters: dict[str, Any]
    refs: dict[str, Any] = field(default_factory=dict)  # logical id -> Ref value
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> GetAtt values

    def pseudo(self) -> dict[str, Any]:
        return {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }

    def ref(self, name: str) -> Any:
        for table in (self.pseudo(), self.parameters, self.refs):
            if name in table:
                return table[name]
        raise KeyError(f"Ref {name}: no local value")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.attrs[logical][attr]
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(x) for x in self.resolve(arg[1]))
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not None}

    def _sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name:
                logical, attr = name.split(".", 1)
                return str(self.attrs[logical][attr])
            return str(self.ref(name))

        return _SUB.sub(one, text)


def to_boto(value: Any, shape: Shape) -> Any:
    """CloudFormation's PascalCase properties as boto3 parameters, member names matched case-insensitively."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = {name.lower(): (name, member) for name, member in shape.members.items()}
        out = {}
        for key, item in value.items():
            if key.lower() in members:
                name, member = members[key.lower()]
                out[name] = to_boto(item, member)
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [to_boto(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: to_boto(v, shape.value) for k, v in value.items()}
    if shape.type_name == "integer" and isinstance(value, str):
        return int(value)
    if shape.type_name == "string" and isinstance(value, (int, float, bool)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


def input_shape(service: str, operation: str) -> Any:
    return botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape


@dataclass(frozen=True)
class Deployment:
    """What ``deploy`` stood up, by role."""

    state_machine_arn: str
    table_name: str
    topic_arn: str
    queue_url: str
    cluster_arn: str
    task_definition_arn: str
    bamboohr_secret_arn: str
    moodle_secret_arn: str
    substitutions: dict[str, str]
    definition: str
    state_machine_role_arn: str = ""
    roles: dict[str, str] = field(default_factory=dict)  # logical id -> role ARN
    webhook_secret_arn: str = ""


def local_names(template: Mapping[str, Any], resolver: Resolver) -> None:
    """Fills ``resolver.refs``/``attrs`` with what each resource will be called locally."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT_ID}:{{}}"
    for logical, resource in template.get("Resources", {}).items():
        kind, props = resource.get("Type", ""), resource.get("Properties", {})
        default = f"{STACK_NAME}-{logical}"
        if kind == "AWS::DynamoDB::Table":
            name = resolver.resolve(props.get("TableName", default))
            resolver.refs[logical] = name
            resolver.attrs[logical] = {"Arn": arn.format("dynamodb", f"table/{name}")}
        elif kind == "AWS::SNS::Topic":
            name = resolver.resolve(props.get("TopicName", default))
            resolver.refs[logical] = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
            resolver.attrs[logical] = {"TopicName": name, "TopicArn": resolver.refs[logical]}
        elif kind == "AWS::SecretsManager::Secret":
            name = resolver.resolve(props.get("Name", default))
            resolver.refs[logical] = name  # until created: then Ref is the ARN moto gives it (_secrets)
            resolver.attrs[logical] = {"Id": name}
        elif kind == "AWS::ECS::Cluster":
            name = resolver.resolve(props.get("ClusterName", default))
            resolver.refs[logical] = name
            resolver.attrs[logical] = {"Arn": arn.format("ecs", f"cluster/{name}")}
        elif kind == "AWS::ECS::TaskDefinition":
            family = resolver.resolve(props.get("Family", default))
            resolver.refs[logical] = arn.format("ecs", f"task-definition/{family}:1")
            resolver.attrs[logical] = {"TaskDefinitionArn": resolver.refs[logical]}
        elif kind == "AWS::IAM::Role":
            name = resolver.resolve(props.get("RoleName", default))[:64]
            resolver.refs[logical] = name
            resolver.attrs[logical] = {"Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "RoleId": name}
        elif kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            name = resolver.resolve(props.get("Name", props.get("StateMachineName", default)))
            resolver.refs[logical] = arn.format("states", f"stateMachine:{name}")
            resolver.attrs[logical] = {"Name": name, "Arn": resolver.refs[logical]}
        elif kind == "AWS::Logs::LogGroup":
            name = resolver.resolve(props.get("LogGroupName", default))
            resolver.refs[logical] = name
            resolver.attrs[logical] = {"Arn": arn.format("logs", f"log-group:{name}:*")}
        else:
            resolver.refs[logical] = default
            resolver.attrs[logical] = {"Arn": arn.format("local", default), "Name": default}


def _network(session: ClientFactory, resolver: Resolver, template: Mapping[str, Any]) -> None:
    """A VPC, subnet and security group for the template's network parameters left without a local value."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="sync-task", Description="local", VpcId=vpc)["GroupId"]
    by_type = {
        "AWS::EC2::VPC::Id": vpc,
        "AWS::EC2::Subnet::Id": subnet,
        "List<AWS::EC2::Subnet::Id>": [subnet],
        "AWS::EC2::SecurityGroup::Id": group,
        "List<AWS::EC2::SecurityGroup::Id>": [group],
    }
    for name, spec in template.get("Parameters", {}).items():
        if name not in resolver.parameters and spec.get("Type") in by_type:
            resolver.parameters[name] = by_type[spec["Type"]]


def _parameters(template: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in spec:
            default = spec["Default"]
            values[name] = default.split(",") if str(spec.get("Type", "")).startswith("List<") else default
    return values


def deploy(
    session: ClientFactory,
    template_path: Path,
    parameters: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Deployment:
    """Creates the template's resources in the moto server ``session`` points at.

    ``secrets`` maps ``"bamboohr"``/``"moodle"``/``"webhook"`` to the API key, token and webhook private key
    stored as ``{"api_key": ...}``, ``{"token": ...}`` and ``{"private_key": ...}`` in the secret whose logical id
    mentions that service.
    """
    template = load_template(template_path)
    resolver = Resolver(template, _parameters(template, parameters or {}))
    _network(session, resolver, template)
    missing = [name for name in template.get("Parameters", {}) if name not in resolver.parameters]
    if missing:
        raise KeyError(f"template parameters without a local value: {missing}")
    local_names(template, resolver)

    secret_arns = _secrets(session, template, resolver, secrets or {})
    _keys(session, template, resolver)
    _log_groups(session, template, resolver)

    table_name = ""
    for logical, resource in resources_of(template, "AWS::DynamoDB::Table").items():
        props = resolver.resolve(resource.get("Properties", {}))
        table_name = resolver.refs[logical]
        dynamodb = session.client("dynamodb")
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)

    topic_arn = queue_url = ""
    for logical in resources_of(template, "AWS::SNS::Topic"):
        props = resolver.resolve(template["Resources"][logical].get("Properties", {}))
        attributes = {"KmsMasterKeyId": str(props["KmsMasterKeyId"])} if props.get("KmsMasterKeyId") else {}
        topic_arn = session.client("sns").create_topic(
            Name=resolver.attrs[logical]["TopicName"], Attributes=attributes
        )["TopicArn"]
        sqs = session.client("sqs")
        queue_url = sqs.create_queue(QueueName=f"{resolver.attrs[logical]['TopicName']}-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        session.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    roles = _roles(session, template, resolver)

    cluster_arn = ""
    for logical in resources_of(template, "AWS::ECS::Cluster"):
        cluster_arn = session.client("ecs").create_cluster(clusterName=resolver.refs[logical])["cluster"]["clusterArn"]

    task_definition_arn = ""
    for logical, resource in resources_of(template, "AWS::ECS::TaskDefinition").items():
        props = resolver.resolve(resource.get("Properties", {}))
        props.setdefault("Family", f"{STACK_NAME}-{logical}")
        request = to_boto(props, input_shape("ecs", "RegisterTaskDefinition"))
        for container in request.get("containerDefinitions", []):
            container.setdefault("memory", int(request.get("memory", 512)))  # moto needs a container memory
        task_definition_arn = session.client("ecs").register_task_definition(**request)["taskDefinition"][
            "taskDefinitionArn"
        ]
        resolver.refs[logical] = task_definition_arn

    machines = {
        **resources_of(template, "AWS::Serverless::StateMachine"),
        **resources_of(template, "AWS::StepFunctions::StateMachine"),
    }
    if len(machines) != 1:
        raise ValueError(f"expected one state machine in {template_path}, found {sorted(machines)}")
    ((logical, resource),) = machines.items()
    props = resource.get("Properties", {})
    asl_path = template_path.parent / props.get("DefinitionUri", props.get("DefinitionS3Location", ""))
    substitutions = {k: _as_text(resolver.resolve(v)) for k, v in props.get("DefinitionSubstitutions", {}).items()}
    definition = substitute(asl_path.read_text(encoding="utf-8"), substitutions)
    role = props.get("Role")
    role_arn = _as_text(resolver.resolve(role)) if role else f"arn:aws:iam::{ACCOUNT_ID}:role/local-state-machine"
    state_machine_arn = session.client("stepfunctions").create_state_machine(
        name=resolver.attrs[logical]["Name"], definition=definition, roleArn=role_arn, type="STANDARD"
    )["stateMachineArn"]
    return Deployment(
        state_machine_arn=state_machine_arn,
        table_name=table_name,
        topic_arn=topic_arn,
        queue_url=queue_url,
        cluster_arn=cluster_arn,
        task_definition_arn=task_definition_arn,
        bamboohr_secret_arn=secret_arns.get("bamboohr", ""),
        moodle_secret_arn=secret_arns.get("moodle", ""),
        substitutions=substitutions,
        definition=definition,
        state_machine_role_arn=role_arn,
        roles=roles,
        webhook_secret_arn=secret_arns.get("webhook", ""),
    )


def _secrets(
    session: ClientFactory, template: Mapping[str, Any], resolver: Resolver, values: Mapping[str, str]
) -> dict[str, str]:
    """The secrets, holding the emulators' credentials; their Ref is the ARN, as in CloudFormation."""
    arns: dict[str, str] = {}
    for logical in resources_of(template, "AWS::SecretsManager::Secret"):
        name = resolver.refs[logical]
        # By logical id: names carry the stack.
        service = next((s for s in ("bamboohr", "webhook") if s in logical.lower()), "moodle")
        field_name = {"bamboohr": "api_key", "webhook": "private_key"}.get(service, "token")
        value = json.dumps({field_name: values.get(service, "local-secret")})
        arns[service] = session.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
        resolver.refs[logical] = resolver.attrs[logical]["Id"] = arns[service]
    return arns


def _keys(session: ClientFactory, template: Mapping[str, Any], resolver: Resolver) -> None:
    """KMS keys (the topic's): Ref is the key id, Arn its ARN."""
    for logical in resources_of(template, "AWS::KMS::Key"):
        key = session.client("kms").create_key(Description=f"{STACK_NAME} {logical}")["KeyMetadata"]
        resolver.refs[logical] = key["KeyId"]
        resolver.attrs[logical] = {"Arn": key["Arn"], "KeyId": key["KeyId"]}


def _log_groups(session: ClientFactory, template: Mapping[str, Any], resolver: Resolver) -> None:
    for logical in resources_of(template, "AWS::Logs::LogGroup"):
        session.client("logs").create_log_group(logGroupName=resolver.refs[logical])


def sam_generated_roles(template: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The roles SAM's transform adds (the schedule's, for ScheduleV2), as ``sam deploy`` would create them."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = json.loads(json.dumps(template))
    for resource in resources_of(sam, "AWS::Serverless::StateMachine").values():
        if "DefinitionUri" in resource.get("Properties", {}):  # sam package's S3 upload; only roles matter here
            resource["Properties"]["DefinitionUri"] = {"Bucket": "local", "Key": "sync.asl.json"}
    for resource in resources_of(sam, "AWS::Serverless::Function").values():
        resource["Properties"]["CodeUri"] = "s3://local/function.zip"  # likewise: sam package's upload
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=REGION))
    values = {**parameters, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": STACK_NAME}
    transformed = translator.translate(sam, parameter_values=values, get_managed_policy_map=dict)
    own = resources_of(template, "AWS::IAM::Role")
    return {k: v for k, v in resources_of(transformed, "AWS::IAM::Role").items() if k not in own}


def _roles(session: ClientFactory, template: Mapping[str, Any], resolver: Resolver) -> dict[str, str]:
    """The IAM roles with their trust policies and inline policies, as template.yaml resolves them, and those
    SAM's transform generates."""
    iam = session.client("iam")
    arns: dict[str, str] = {}
    generated = sam_generated_roles(template, resolver.parameters) if "Transform" in template else {}
    for logical in generated:
        resolver.refs[logical] = f"{STACK_NAME}-{logical}"[:64]
        resolver.attrs[logical] = {"Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{resolver.refs[logical]}"}
    for logical, resource in {**resources_of(template, "AWS::IAM::Role"), **generated}.items():
        props = resolver.resolve(resource.get("Properties", {}))
        document = props.get("AssumeRolePolicyDocument", {"Version": "2012-10-17", "Statement": []})
        name = resolver.refs[logical]
        arns[logical] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document))["Role"]["Arn"]
        for policy in props.get("Policies", []):
            # SAM writes its generated policies without Version, which AWS reads as 2008-10-17 and moto refuses;
            # the two versions evaluate alike where no policy variable is used.
            policy["PolicyDocument"].setdefault("Version", "2012-10-17")
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )
        for managed in props.get("ManagedPolicyArns", []):
            iam.attach_role_policy(RoleName=name, PolicyArn=managed)
    return arns


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
