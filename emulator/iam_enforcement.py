"""IAM enforcement, as AWS enforces it: every call signed by a known key (the root user's, an
IAM user's, an assumed role's), and allowed only if identity ∩ boundary ∩ SCPs allow each
authorization the call carries (annex_emulator.iam_requests says which, iam_evaluation decides).
A call the emulator has not been taught is refused, never let through on a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from moto.core.exceptions import JsonRESTError, _RESTError

from annex_emulator import iam_principals, patches, policy_simulator, stack_authorization
from annex_emulator.iam_evaluation import ALLOWED, denial_message, evaluate
from annex_emulator.iam_requests import Call, Untaught, requests_for

#: Services whose errors are JSON documents (moto's XML error left botocore only the status).
_JSON_SERVICES = frozenset({"events", "ssm", "logs", "lambda", "kms", "imagebuilder"})


def _denied(service: str, message: str) -> _RESTError:
    """AWS's refusal as the service spells it, with AWS's message naming the policy type that
    refused the call (EC2: UnauthorizedOperation; JSON services: AccessDeniedException)."""
    if service == "ec2":
        text = f"You are not authorized to perform this operation. {message}"
        error: _RESTError = _RESTError("UnauthorizedOperation", text)
    elif service in _JSON_SERVICES:
        error = JsonRESTError("AccessDeniedException", message)
    else:
        error = _RESTError("AccessDenied", message)
    error.code = 403
    return error


def check_action_permitted(self: Any, resource: str) -> None:
    """moto's IAMRequestBase.check_action_permitted, with resources, conditions, the caller's
    permissions boundary and the organization's SCPs; the root user's key is known."""
    if self._action == "sts:GetCallerIdentity":  # always allowed, as on AWS
        return
    call = Call(self)
    principal = iam_principals.of_access_key(self._access_key)
    # CloudFormation creates and deletes a stack's resources with the caller's rights.
    stack_authorization.acting.set(
        (principal, call.region) if call.action in stack_authorization.STACK_CHANGES else None
    )
    try:
        requests = requests_for(call, resource)
    except Untaught as what:
        message = (
            f"User: {principal.arn} is not authorized to perform: {call.action}: the annex-cdk "
            f"emulator has not been taught how AWS authorizes {what} (annex_emulator.iam_requests)"
        )
        _log_denial(message)
        raise _denied(call.service, message) from None
    for request in requests:
        result = evaluate(principal.policies, principal.request(request, call.region))
        if result.decision != ALLOWED:
            message = denial_message(principal.arn, result)
            _log_denial(message)
            if call.service == "s3":
                self._raise_access_denied()  # S3's own error document
            raise _denied(call.service, message)


def _log_denial(message: str) -> None:
    import sys

    # The emulator's log (stderr) says which authorization failed; the client sees AWS's error.
    print(f"annex-emulator: IAM denied: {message}", file=sys.stderr)


def check_signature(self: Any) -> None:
    """moto's check, also as the client signed a REST call (Lambda's): moto puts the parsed
    path parameters in the request's body when the real body is empty, and hands over the
    decoded path where the client signed the encoded one (a function ARN's colons as %3A); so
    every Lambda call with IAM enforcement on was refused as mis-signed."""
    signed = self._get_string_between("Signature=", ",", self._headers["Authorization"])
    path, data = self._path, self._data
    raw, _, query = path.partition("?")
    encoded = quote(raw, safe="/-_.~") + (f"?{query}" if query else "")
    try:
        for candidate_path in dict.fromkeys((path, encoded)):
            for candidate_data in (data, {}) if not self._body else (data,):
                self._path, self._data = candidate_path, candidate_data
                if self._calculate_signature() == signed:
                    return
    finally:
        self._path, self._data = path, data
    self._raise_signature_does_not_match()


def install(patch: Callable[[Any, str, Any], None]) -> None:
    from moto.iam import access_control
    from moto.iam.access_control import IAMRequestBase
    from moto.iam.responses import IamResponse

    patch(IAMRequestBase, "check_action_permitted", check_action_permitted)
    patch(access_control, "create_access_key", iam_principals.create_access_key)
    # Added, not replaced: moto has no SimulatePrincipalPolicy (moto_contract.ABSENT).
    patches.add(
        IamResponse, "simulate_principal_policy", policy_simulator.simulate_principal_policy
    )
    patch(IAMRequestBase, "check_signature", check_signature)
