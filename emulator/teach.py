"""Teach moto (5.2.5) what annex-cdk's CloudFormation templates need: `install()`.

annex-cdk deploys with boto3 CloudFormation. Without an AWS account that is moto's job, and
moto's CloudFormation engine has gaps that would make the emulator *lie* rather than fail: it
skips resource types it does not know while the stack still reaches CREATE_COMPLETE, a failed
create leaves the stack stuck in CREATE_IN_PROGRESS, a failed delete loses the stack altogether,
inline security-group rules are replaced instead of updated, and a modified log group turns into
``None``. The product never branches for the emulator, so every gap is closed here, inside the
emulator process, by teaching moto. `install()` does it; it must run before the first stack is
parsed, and it first checks moto against `annex_emulator.moto_contract`.

How moto finds the class for a resource type: `moto.cloudformation.parsing.resource_class_from_type`
looks the type up in `get_model_map()`, an `lru_cache`d dict built from the *direct* subclasses of
`CloudFormationModel` (`cloudformation_type()` is the key; on a duplicate type the later class
wins). Relying on definition order to override moto's own classes would be fragile, so `install()`
wraps `get_model_map` with an explicit overlay (`resource_types.MODELS` wins), clears the three
caches, and checks that every type it registers resolves to its class.

The overlay (`installed_models()`) registers classes of our own for types moto lacks
(`AWS::EC2::KeyPair`, `AWS::S3::BucketPolicy`, `AWS::EC2::SecurityGroupEgress`) or cannot update
and delete (`AWS::EC2::SecurityGroupIngress`, `AWS::Lambda::Permission`), and, for
`AWS::S3::Bucket`, `AWS::EC2::SecurityGroup`, `AWS::IAM::Role`/`InstanceProfile`,
`AWS::Lambda::Function` and `AWS::Logs::LogGroup`, subclasses of moto's classes whose
*classmethods* (create, update, delete) behave as AWS does. The objects in the service backends
stay moto's own, so every service API (describe_security_groups, get_bucket_policy, ...) keeps
answering from one source of truth. `AWS::IAM::Policy` is moto's own and behaves.

Engine behaviours taught (`_teach` patches moto minimally; each patch says why):
- a failed create fails the stack as on AWS: CREATE_FAILED, then rollback of what was created and
  ROLLBACK_COMPLETE (or CREATE_FAILED with DisableRollback / OnFailure=DO_NOTHING, or deleted with
  OnFailure=DELETE); a resource the stack never created is never deleted (`stack_states`);
- a failed delete leaves the stack in DELETE_FAILED (moto dropped it from the stack list);
- updates run in AWS's order (create and update in dependency order, delete removed and replaced
  resources last) and roll back to the previous template on failure (`stack_update`);
- "No updates are to be performed." when nothing changed, as AWS answers;
- resource-level stack events (CREATE_IN_PROGRESS ... DELETE_FAILED) with AWS-like reasons;
- DeletionPolicy Retain / RetainExceptOnCreate and UpdateReplacePolicy (`resource_lifecycle`);
- a resource type the emulator cannot create fails the stack instead of being skipped silently;
- change sets: failures roll back, and a stack created by one has its Outputs;
- LastUpdatedTime in DescribeStacks once a stack was updated or imported into (`stack_times`).
Run-time behaviours taught (`annex_runtime`): DescribeInstances' client-token filter (with EC2's
wildcards) and RequestSpotFleet's ClientToken, which condor_annex's lease functions rely on, and
DeleteSecurityGroup's DependencyViolation while instances use the group.
Account behaviours taught (`governed_account`): the posture of a landing zone's account when the
server is started with one (no default VPC, IMDSv2 required), instance-metadata defaults and the
effective metadata options of every launch, and an AMI's ImdsSupport.
Clock and schedules: EventBridge Scheduler schedules fire when a test advances the emulator's
clock (`clock`, `schedules`); Lambda Invoke runs a Python function's deployed code in a child
process with its role's credentials (`lambda_runtime`). The Price List API answers for a few
instance types (`price_list`). AWS::Scheduler::Schedule and AWS::Budgets::Budget are resources.
Service behaviours taught: bucket-policy conditions (aws:SecureTransport is true: the emulator
stands in for AWS's HTTPS endpoints; `bucket_access`), and Lambda's LoggingConfig in GetFunction.
"""

from __future__ import annotations

import threading
from typing import Any

from annex_emulator import moto_contract, patches

__all__ = ["install", "installed_models", "uninstall"]

_lock = threading.Lock()


def install() -> None:
    """Teach moto (in this process) what annex-cdk's templates need. Idempotent.

    Call before the first stack is parsed. The emulator's server process does this at start-up;
    in-process tests (moto's mock_aws) may call it too. Raises `MotoContractError` (one line)
    if moto is not the moto the emulator was written against.
    """
    with _lock:
        if patches.applied():
            return
        moto_contract.check()  # before the modules that rely on moto are imported
        try:
            _teach()
        except BaseException:
            _forget()  # all or nothing
            raise


def uninstall() -> None:
    """Give moto back its own behaviour (for in-process tests that installed, then want out).

    Use it between tests, not mid-way: stacks created meanwhile keep their resources. The new
    types (KeyPair, BucketPolicy, ...) stay visible to moto's own lookup, which finds every
    direct CloudFormationModel subclass; the overrides of moto's types are all undone.
    """
    with _lock:
        _forget()


def installed_models() -> dict[str, Any]:
    """The resource types the emulator teaches moto, and their classes."""
    from annex_emulator.resource_types import MODELS

    return dict(MODELS)


def _teach() -> None:
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    from moto.cloudformation import parsing
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.parsing import ResourceMap
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.s3.models import FakeBucket

    from annex_emulator import (
        ami_catalog,
        annex_runtime,
        change_sets,
        clock,
        generated_names,
        governed_account,
        iam_enforcement,
        intrinsics,
        lambda_function,
        lambda_runtime,
        moto_modules,
        resource_import,
        resource_lifecycle,
        schedules,
        stack_set_api,
        stack_states,
        stack_times,
        template_body,
    )
    from annex_emulator.bucket_access import bucket_get_permission
    from annex_emulator.stack_update import resource_map_update
    from annex_emulator.update_rollback import continue_update_rollback

    patch, patch_property = patches.patch, patches.patch_property
    # JSON template bodies read by json, not by PyYAML's pure-Python loader.
    template_body.install()
    # Which class handles a resource type: ours win over moto's (see the module docstring).
    _install_model_lookup()
    # Every resource creation, including moto's lazy ones: events, strict types, blame.
    patch(parsing, "parse_and_create_resource", resource_lifecycle.create_resource)
    # Generated names within each type's length limit, as CloudFormation makes them.
    patch(parsing, "generate_resource_name", generated_names.generate_resource_name)
    # A list element that is AWS::NoValue is removed, as CloudFormation removes it.
    patch(parsing, "clean_json", intrinsics.clean_json)
    # Every resource deletion: DeletionPolicy, events, "already gone" counts as deleted.
    patch(ResourceMap, "_delete_resource", resource_lifecycle.delete_resource)
    # Updates in CloudFormation's order, with rollback.
    patch(ResourceMap, "update", resource_map_update)
    # Resource maps need their stack (events, stack tags).
    patch(Stack, "_create_resource_map", stack_states.stack_create_resource_map)
    # LastUpdatedTime, set by every update, import and update rollback.
    patch(Stack, "_add_stack_event", stack_times.add_stack_event)
    # "No updates are to be performed", refused states, rollback states.
    patch(Stack, "update", stack_states.stack_update)
    # No outputs (and no lazy resource creation) for failed or deleted stacks.
    patch_property(Stack, "outputs", stack_states.stack_outputs)
    # Resource listings without moto's None entries and lazy creation.
    patch_property(Stack, "stack_resources", stack_states.stack_resources)
    # CREATE_FAILED -> rollback -> ROLLBACK_COMPLETE instead of an HTTP error.
    patch(CloudFormationBackend, "create_stack", stack_states.backend_create_stack)
    # DELETE_FAILED instead of a lost stack.
    patch(CloudFormationBackend, "delete_stack", stack_states.backend_delete_stack)
    # Change sets: failure states, and Outputs after a CREATE change set.
    patch(CloudFormationBackend, "execute_change_set", stack_states.backend_execute_change_set)
    # Change sets by stack and name: the CDK CLI gives every stack's change set the same name.
    patch(CloudFormationBackend, "describe_change_set", change_sets.backend_describe_change_set)
    patch(CloudFormationBackend, "delete_change_set", change_sets.backend_delete_change_set)
    for handler in ("describe_change_set", "delete_change_set", "execute_change_set"):
        patch(CloudFormationResponse, handler, getattr(change_sets, f"response_{handler}"))
    # IMPORT change sets: checked as CloudFormation checks them, resources adopted.
    patch(CloudFormationResponse, "create_change_set", resource_import.response_create_change_set)
    # ContinueUpdateRollback, out of UPDATE_ROLLBACK_FAILED.
    patches.add(CloudFormationResponse, "continue_update_rollback", continue_update_rollback)
    # DisableRollback / OnFailure.
    patch(CloudFormationResponse, "create_stack", stack_states.response_create_stack)
    # Bucket-policy conditions (CDK's enforce-SSL statement denied everything).
    patch(FakeBucket, "get_permission", bucket_get_permission)
    # Lambda LoggingConfig, which moto drops, reported by GetFunction as on AWS.
    patch(LambdaBackend, "create_function", lambda_function.lambda_create_function)
    patch(LambdaFunction, "update_configuration", lambda_function.lambda_update_configuration)
    patch(LambdaFunction, "get_configuration", lambda_function.lambda_get_configuration)
    # Invoke runs a Python function's deployed code (moto needs docker): the guardrail, the
    # lease functions, as Scheduler or a caller invokes them.
    patch(LambdaFunction, "_invoke_lambda", lambda_runtime.invoke_lambda)
    clock.on_advance(schedules.fire_due)
    # condor_annex's run-time EC2 calls: client-token filter, spot fleets' ClientToken.
    annex_runtime.install()
    # StackSets as CloudFormation runs them; the organization they deploy to; AssumeRole's trust.
    stack_set_api.install(patch)
    # A governed account's EC2 (no default VPC, IMDS defaults) and IMDS options as EC2 sets them.
    governed_account.install(patch)
    # Amazon's public AMIs, loaded into a backend when first read rather than at every reset.
    ami_catalog.install(patch)
    # moto's service packages, listed once rather than at every request.
    moto_modules.install(patch)
    # IAM enforcement (when switched on) with each call's resources and condition context.
    iam_enforcement.install(patch)
    _check_lookup()


def _forget() -> None:
    from moto.cloudformation import parsing

    from annex_emulator import clock

    patches.remove_all()
    clock.on_advance(None)
    _clear_lookup_caches(parsing)


def _clear_lookup_caches(parsing: Any) -> None:
    """moto's lookup caches may hold maps built before (or after) our classes took part."""
    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()


def _install_model_lookup() -> None:
    from moto.cloudformation import parsing

    from annex_emulator.resource_types import MODELS

    moto_model_map = parsing.get_model_map

    def get_model_map() -> dict[str, Any]:
        # moto's map (its own lru_cache) with ours on top: deterministic, whatever the order in
        # which CloudFormationModel subclasses were defined.
        return {**moto_model_map(), **MODELS}

    _clear_lookup_caches(parsing)
    patches.patch(parsing, "get_model_map", get_model_map)


def _check_lookup() -> None:
    """Fail loudly at start-up if moto's lookup does not resolve to our classes."""
    from moto.cloudformation import parsing

    for resource_type, model in installed_models().items():
        found = parsing.resource_class_from_type(resource_type)
        if found is not model:
            raise RuntimeError(f"moto resolves {resource_type} to {found}, not {model}")
    for resource_type, name_property in (
        ("AWS::EC2::KeyPair", "KeyName"),
        ("AWS::S3::Bucket", "BucketName"),
        ("AWS::EC2::SecurityGroup", "GroupName"),
    ):
        found_name = parsing.resource_name_property_from_type(resource_type)
        if found_name != name_property:
            raise RuntimeError(f"moto names {resource_type} by {found_name}, not {name_property}")
