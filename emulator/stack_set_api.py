"""The StackSets API, answered as CloudFormation answers it (the records: `stack_set_model`; the
operations: `stack_set_engine`; the organization: `organization`).

moto 5.2.5 runs StackSets synchronously and reports every instance CURRENT and every operation
SUCCEEDED whatever became of the stacks, updates neither existing instances nor new ones with a
changed template, names the stacks `StackSet:<name>` (a colon AWS never puts there, which breaks
generated names), ignores AutoDeployment, OperationPreferences, RetainStacks, CallAs and
Capabilities, and lacks drift detection and trusted access. Every StackSet action is therefore
answered here, checked as CloudFormation checks it:

- the template: at most 51,200 bytes of TemplateBody, the capabilities its IAM resources need
  (InsufficientCapabilitiesException), a value for every parameter without a default;
- SERVICE_MANAGED: the caller is the organization's management account, or a delegated
  administrator calling as DELEGATED_ADMIN, and trusted access is activated
  (ActivateOrganizationsAccess); targets are OUs (nested OUs included, the management account
  never), filtered by AccountFilterType; AutoDeployment deploys to accounts that join them;
- SELF_MANAGED: targets are accounts, and AutoDeployment is refused;
- one operation at a time per StackSet (OperationInProgressException), unless ManagedExecution
  queues them; a client's OperationId is the operation's id, and reusing one is refused.
"""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Stack, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.organizations.models import OrganizationsBackend

from annex_emulator import organization, patches, stack_set_engine
from annex_emulator.stack_set_engine import new_operation, resolve_parameters, submit
from annex_emulator.stack_set_model import Instance, Result, StackSet, stack_sets_of

_MAX_TEMPLATE_BODY = 51_200
_IAM_TYPES = {
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::UserToGroupAddition": None,
}
_NOT_ADMIN = (
    "You must be the management account or delegated admin account of an organization before "
    "operating a SERVICE_MANAGED stack set"
)
_NO_ACCESS = "You must enable organizations access to operate a service managed stack set"


class _Error(ValidationError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message=message)
        self.code = code


def _not_found(name: str) -> _Error:
    return _Error("StackSetNotFoundException", f"StackSet {name} not found")


# --- who calls, and which StackSet -------------------------------------------------------------


def _call_as(self: CloudFormationResponse) -> str:
    call_as = self._get_param("CallAs") or "SELF"
    if call_as == "DELEGATED_ADMIN":
        org = organization.organization_of(self.current_account)
        if org is None or not organization.delegated_admin(org, self.current_account):
            raise _Error("ValidationError", "Account used is not a delegated administrator")
    return str(call_as)


def _stack_sets(self: CloudFormationResponse) -> dict[str, StackSet]:
    return stack_sets_of(cloudformation_backends[self.current_account][self.region])


def _find(self: CloudFormationResponse, name: str | None = None) -> StackSet:
    _call_as(self)
    name = name or self._get_param("StackSetName") or ""
    for stack_set in _stack_sets(self).values():
        if stack_set.status != "DELETED" and name in (stack_set.name, stack_set.id):
            return stack_set
    raise _not_found(name)


def _check_org_admin(self: CloudFormationResponse) -> OrganizationsBackend:
    call_as = _call_as(self)
    org = organization.organization_of(self.current_account)
    management = org is not None and org.account_id == self.current_account
    if org is None or not (management or call_as == "DELEGATED_ADMIN"):
        raise _Error("ValidationError", _NOT_ADMIN)
    if not organization.trusted_access(org):
        raise _Error("ValidationError", _NO_ACCESS)
    return org


# --- templates ---------------------------------------------------------------------------------


def _template(self: CloudFormationResponse, previous: str | None = None) -> str:
    body = self._get_param("TemplateBody")
    url = self._get_param("TemplateURL")
    if url:
        body = self._get_stack_from_s3_url(url)
    elif body is not None and len(body.encode()) > _MAX_TEMPLATE_BODY:
        raise _Error(
            "ValidationError",
            "1 validation error detected: Value at 'templateBody' failed to satisfy constraint: "
            f"Member must have length less than or equal to {_MAX_TEMPLATE_BODY}",
        )
    if body is None and previous is not None:
        return previous
    if not body:
        raise _Error("ValidationError", "Either TemplateBody or TemplateURL must be specified")
    return str(body)


def _check_template(template: str, capabilities: list[str], parameters: dict[str, str]) -> None:
    try:
        parsed = Stack.parse_template(template)
    except Exception as exc:
        raise _Error("ValidationError", f"Template format error: {exc}") from None
    needs: str | None = None
    for resource in (parsed.get("Resources") or {}).values():
        if resource.get("Type") in _IAM_TYPES:
            named = _IAM_TYPES[resource["Type"]]
            if named and named in (resource.get("Properties") or {}):
                needs = "CAPABILITY_NAMED_IAM"
            else:
                needs = needs or "CAPABILITY_IAM"
    if needs == "CAPABILITY_NAMED_IAM" and needs not in capabilities:
        raise _Error("InsufficientCapabilitiesException", f"Requires capabilities : [{needs}]")
    if needs == "CAPABILITY_IAM" and not set(capabilities) & {needs, "CAPABILITY_NAMED_IAM"}:
        raise _Error("InsufficientCapabilitiesException", f"Requires capabilities : [{needs}]")
    declared = parsed.get("Parameters") or {}
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise _Error(
            "ValidationError", f"Parameters: [{', '.join(unknown)}] do not exist in the template"
        )
    missing = [k for k, v in declared.items() if "Default" not in v and k not in parameters]
    if missing:
        raise _Error("ValidationError", f"Parameters: [{', '.join(missing)}] must have values")


# --- targets -----------------------------------------------------------------------------------


def _targets(
    self: CloudFormationResponse, stack_set: StackSet, *, existing_only: bool
) -> list[tuple[str, str, str | None]]:
    """(account, Region, OU) for the request's Accounts or DeploymentTargets and Regions."""
    regions: list[str] = self._get_param("Regions") or []
    if not regions:
        raise _Error("ValidationError", "Regions must be specified")
    targets = self._get_param("DeploymentTargets") or {}
    accounts: list[str] = self._get_param("Accounts") or targets.get("Accounts") or []
    ous: list[str] = targets.get("OrganizationalUnitIds") or []
    pairs: list[tuple[str, str | None]]
    if stack_set.permission_model == "SERVICE_MANAGED":
        if not ous:
            raise _Error(
                "ValidationError",
                "StackSets with SERVICE_MANAGED permission model can only have "
                "OrganizationalUnit as target",
            )
        org = _check_org_admin(self)
        for ou in ous:
            if not re.match(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$", ou):
                raise _Error("ValidationError", f"Invalid OrganizationalUnitId: {ou}")
            if not organization.known_unit(org, ou):
                raise _Error("ValidationError", f"OrganizationalUnitIds [{ou}] do not exist")
        in_ous = organization.accounts_under(org, ous)
        mode = targets.get("AccountFilterType") or "NONE"
        if mode == "INTERSECTION":
            pairs = [(a, ou) for a, ou in in_ous if a in accounts]
        elif mode == "DIFFERENCE":
            pairs = [(a, ou) for a, ou in in_ous if a not in accounts]
        elif mode == "UNION":
            pairs = [*in_ous, *[(a, None) for a in accounts if a not in dict(in_ous)]]
        else:
            pairs = list(in_ous)
    else:
        if ous:
            raise _Error(
                "ValidationError",
                "StackSets with SELF_MANAGED permission model can only have accounts as target",
            )
        if not accounts:
            raise _Error("ValidationError", "Accounts must be specified")
        pairs = [(a, None) for a in accounts]
    found = [(a, r, ou) for r in regions for a, ou in pairs]
    if existing_only:
        found = [(a, r, ou) for a, r, ou in found if (a, r) in stack_set.instances]
    return found


def _operation_id(self: CloudFormationResponse, stack_set: StackSet) -> str | None:
    given = self._get_param("OperationId")
    if given and stack_set.operation(given) is not None:
        raise _Error("OperationIdAlreadyExistsException", f"Operation {given} already exists")
    return str(given) if given else None


def _start(
    self: CloudFormationResponse,
    stack_set: StackSet,
    action: str,
    targets: list[tuple[str, str, str | None]],
    **kwargs: Any,
) -> ActionResult:
    operation_id = _operation_id(self, stack_set)
    operation = new_operation(
        action,
        [Result(a, r, ou) for a, r, ou in targets],
        preferences=self._get_param("OperationPreferences") or {},
        **kwargs,
    )
    if operation_id:
        operation.id = operation_id
    submit(stack_set, operation)
    return ActionResult({"OperationId": operation.id})


# --- the actions -------------------------------------------------------------------------------


def create_stack_set(self: CloudFormationResponse) -> ActionResult:
    name = self._get_param("StackSetName") or ""
    if not re.match(r"^[a-zA-Z][-a-zA-Z0-9]*$", name) or len(name) > 128:
        raise _Error(
            "ValidationError",
            f"1 validation error detected: Value '{name}' at 'stackSetName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*",
        )
    model = self._get_param("PermissionModel") or "SELF_MANAGED"
    auto = self._get_param("AutoDeployment")
    if model == "SERVICE_MANAGED":
        _check_org_admin(self)
    else:
        _call_as(self)
        if auto:
            raise _Error(
                "ValidationError", "AutoDeployment is only supported for SERVICE_MANAGED stack sets"
            )
    if any(s.name == name and s.status != "DELETED" for s in _stack_sets(self).values()):
        raise _Error("NameAlreadyExistsException", f"StackSet {name} already exists")
    template = _template(self)
    capabilities = self._get_param("Capabilities") or []
    parameters = resolve_parameters(self._get_param("Parameters") or [], {})
    _check_template(template, capabilities, parameters)
    account = self.current_account
    stack_set = StackSet(
        name=name,
        account=account,
        region=self.region,
        template=template,
        parameters=parameters,
        capabilities=capabilities,
        permission_model=model,
        description=self._get_param("Description"),
        tags={t["Key"]: t["Value"] for t in self._get_param("Tags") or []},
        auto_deployment=auto if model == "SERVICE_MANAGED" else None,
        managed_execution=bool((self._get_param("ManagedExecution") or {}).get("Active")),
        admin_role_arn=self._get_param("AdministrationRoleARN")
        or f"arn:aws:iam::{account}:role/AWSCloudFormationStackSetAdministrationRole",
        execution_role_name=self._get_param("ExecutionRoleName")
        or "AWSCloudFormationStackSetExecutionRole",
    )
    _stack_sets(self)[stack_set.id] = stack_set
    return ActionResult({"StackSetId": stack_set.id})


def update_stack_set(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    if stack_set.permission_model == "SERVICE_MANAGED":
        _check_org_admin(self)
    template = _template(self, previous=stack_set.template)
    if self._get_param("UsePreviousTemplate"):
        template = stack_set.template
    given = self._get_param("Parameters")
    parameters = (
        resolve_parameters(given, stack_set.parameters)
        if given is not None
        else dict(stack_set.parameters)
    )
    capabilities = self._get_param("Capabilities") or []
    _check_template(template, capabilities, parameters)
    if (
        self._get_param("Regions")
        or self._get_param("Accounts")
        or self._get_param("DeploymentTargets")
    ):
        targets = _targets(self, stack_set, existing_only=True)
    else:
        targets = [(i.account, i.region, i.ou) for i in stack_set.instances.values()]
    with stack_set.lock:
        if not stack_set.managed_execution:
            stack_set_engine.refuse_if_busy(stack_set)  # before anything changes
        stack_set.template = template
        stack_set.parameters = parameters
        stack_set.capabilities = capabilities
        if self._get_param("Description") is not None:
            stack_set.description = self._get_param("Description")
        if self._get_param("Tags") is not None:
            stack_set.tags = {t["Key"]: t["Value"] for t in self._get_param("Tags")}
        if self._get_param("AutoDeployment") is not None:
            stack_set.auto_deployment = self._get_param("AutoDeployment")
        if self._get_param("ManagedExecution") is not None:
            stack_set.managed_execution = bool(self._get_param("ManagedExecution").get("Active"))
        return _start(self, stack_set, "UPDATE", targets)


def delete_stack_set(self: CloudFormationResponse) -> EmptyResult:
    stack_set = _find(self)
    with stack_set.lock:
        stack_set_engine.refuse_if_busy(stack_set)
        if stack_set.instances:
            raise _Error("StackSetNotEmptyException", "StackSet is not empty")
        stack_set.status = "DELETED"
    return EmptyResult()


def describe_stack_set(self: CloudFormationResponse) -> ActionResult:
    return ActionResult({"StackSet": _find(self).to_dict()})


def list_stack_sets(self: CloudFormationResponse) -> ActionResult:
    _call_as(self)
    status = self._get_param("Status")
    found = [s.summary() for s in _stack_sets(self).values() if status in (None, s.status)]
    return ActionResult({"Summaries": found})


def create_stack_instances(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    targets = _targets(self, stack_set, existing_only=False)
    overrides = self._get_param("ParameterOverrides")
    for ou in {ou for _, _, ou in targets if ou}:
        regions = stack_set.targets.setdefault(ou, [])
        regions += [r for _, r, o in targets if o == ou and r not in regions]
    declared = Stack.parse_template(stack_set.template).get("Parameters") or {}
    unknown = sorted({p["ParameterKey"] for p in overrides or []} - set(declared))
    if unknown:
        raise _Error(
            "ValidationError", f"Parameters: [{', '.join(unknown)}] do not exist in the template"
        )
    return _start(self, stack_set, "CREATE", targets, overrides=overrides)


def update_stack_instances(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    targets = _targets(self, stack_set, existing_only=False)
    missing = [(a, r) for a, r, _ in targets if (a, r) not in stack_set.instances]
    if missing:
        raise _Error(
            "StackInstanceNotFoundException",
            f"Stack instance for account {missing[0][0]} in region {missing[0][1]} not found",
        )
    overrides = self._get_param("ParameterOverrides")
    return _start(self, stack_set, "UPDATE", targets, overrides=overrides)


def delete_stack_instances(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    retain = self._get_param("RetainStacks")
    if retain is None:
        raise _Error("ValidationError", "RetainStacks must be specified")
    targets = _targets(self, stack_set, existing_only=True)
    regions = set(self._get_param("Regions") or [])
    ous = (self._get_param("DeploymentTargets") or {}).get("OrganizationalUnitIds") or []
    for ou in ous:  # the OU is no longer deployed to in those Regions
        left = [r for r in stack_set.targets.get(ou, []) if r not in regions]
        if left:
            stack_set.targets[ou] = left
        else:
            stack_set.targets.pop(ou, None)
    return _start(self, stack_set, "DELETE", targets, retain_stacks=bool(retain))


def _instance(stack_set: StackSet, account: str, region: str) -> Instance:
    found = stack_set.instances.get((account, region))
    if found is None:
        raise _Error(
            "StackInstanceNotFoundException",
            f"Stack instance for account {account} in region {region} not found",
        )
    return found


def describe_stack_instance(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    account = self._get_param("StackInstanceAccount")
    region = self._get_param("StackInstanceRegion")
    return ActionResult({"StackInstance": _instance(stack_set, account, region).to_dict(stack_set)})


_FILTERS = {
    "DETAILED_STATUS": lambda i: i.detailed,
    "LAST_OPERATION_ID": lambda i: i.last_operation,
    "DRIFT_STATUS": lambda i: i.drift,
}


def list_stack_instances(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    account = self._get_param("StackInstanceAccount")
    region = self._get_param("StackInstanceRegion")
    filters = self._get_param("Filters") or []
    found = []
    for instance in list(stack_set.instances.values()):
        if account not in (None, instance.account) or region not in (None, instance.region):
            continue
        if any(_FILTERS[f["Name"]](instance) != f["Values"] for f in filters):
            continue
        summary = instance.to_dict(stack_set)
        summary.pop("ParameterOverrides")
        found.append(summary)
    return ActionResult({"Summaries": found})


def _operation(self: CloudFormationResponse, stack_set: StackSet) -> Any:
    operation_id = self._get_param("OperationId")
    found = stack_set.operation(operation_id)
    if found is None:
        raise _Error("OperationNotFoundException", f"Operation {operation_id} not found")
    return found


def describe_stack_set_operation(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    operation = _operation(self, stack_set)
    return ActionResult({"StackSetOperation": operation.to_dict(stack_set)})


def list_stack_set_operations(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    found = [o.to_dict(stack_set, summary=True) for o in reversed(stack_set.operations)]
    return ActionResult({"Summaries": found})


def list_stack_set_operation_results(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    operation = _operation(self, stack_set)
    return ActionResult({"Summaries": [r.to_dict() for r in operation.results]})


def stop_stack_set_operation(self: CloudFormationResponse) -> EmptyResult:
    stack_set = _find(self)
    operation = _operation(self, stack_set)
    if operation.status not in ("QUEUED", "RUNNING"):
        raise _Error(
            "InvalidOperationException",
            f"Operation {operation.id} is in {operation.status} state and cannot be stopped",
        )
    stack_set_engine.stop(stack_set, operation)
    return EmptyResult()


def detect_stack_set_drift(self: CloudFormationResponse) -> ActionResult:
    stack_set = _find(self)
    targets = [(i.account, i.region, i.ou) for i in stack_set.instances.values()]
    with stack_set.lock:
        result = _start(self, stack_set, "DETECT_DRIFT", targets)
        stack_set.drift_detection_status = "IN_PROGRESS"
    return result


def _management_org(self: CloudFormationResponse) -> OrganizationsBackend:
    call_as = _call_as(self)
    org = organization.organization_of(self.current_account)
    if org is None or not (org.account_id == self.current_account or call_as == "DELEGATED_ADMIN"):
        raise _Error("ValidationError", _NOT_ADMIN)
    return org


def activate_organizations_access(self: CloudFormationResponse) -> EmptyResult:
    org = _management_org(self)
    org.enable_aws_service_access(ServicePrincipal=organization.STACKSETS_PRINCIPAL)
    return EmptyResult()


def deactivate_organizations_access(self: CloudFormationResponse) -> EmptyResult:
    org = _management_org(self)
    if organization.trusted_access(org):
        org.disable_aws_service_access(ServicePrincipal=organization.STACKSETS_PRINCIPAL)
    return EmptyResult()


def describe_organizations_access(self: CloudFormationResponse) -> ActionResult:
    org = _management_org(self)
    return ActionResult({"Status": "ENABLED" if organization.trusted_access(org) else "DISABLED"})


#: The CloudFormationResponse handlers replaced (moto has them) and added (moto lacks them).
REPLACED = (
    create_stack_set,
    update_stack_set,
    delete_stack_set,
    describe_stack_set,
    list_stack_sets,
    create_stack_instances,
    update_stack_instances,
    delete_stack_instances,
    describe_stack_instance,
    list_stack_instances,
    describe_stack_set_operation,
    list_stack_set_operations,
    list_stack_set_operation_results,
    stop_stack_set_operation,
)
ADDED = (
    detect_stack_set_drift,
    activate_organizations_access,
    deactivate_organizations_access,
    describe_organizations_access,
)


def install(patch: Any) -> None:
    for handler in REPLACED:
        patch(CloudFormationResponse, handler.__name__, handler)
    for handler in ADDED:
        patches.add(CloudFormationResponse, handler.__name__, handler)
    organization.install(patch)
    organization.on_account_placed(stack_set_engine.account_placed)
