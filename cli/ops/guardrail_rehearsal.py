"""The rehearsal's guardrail phase: caps on, a burst over the cap drained to it by the deployed
schedule, a launch refused while over it, and a stale heartbeat that drains the rest.

After the annex phase, setup runs again with --max-instances and --heartbeat-minutes (the
guardrail stack, the first heartbeat). condor_annex's own RunInstances (aws/condor_annex_calls)
starts one annex more than the cap allows; the emulator's clock moves five minutes and its
Scheduler fires the deployed function with its role's credentials. A user standing in for
condor_annex's identity, holding the Deny, then tries a launch with IAM enforced. Last, the
clock moves past the heartbeat's limit: the next runs end every annex.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.condor_annex_calls import Annex, AnnexAccount
from annex_cdk.aws.guardrail import live_annex_instances, make_annex_user, remove_annex_user
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.ops.annex_lease_rehearsal import REHEARSAL_IMAGE
from annex_cdk.ops.setup import run_setup
from annex_stacks import names
from annex_stacks.settings import SettingsFlags

GUARDRAIL_STEP = "guardrail (over the cap, a refused launch, a stale heartbeat)"
CAP = 2
HEARTBEAT_MINUTES = 10
_CONDOR_USER = "rehearsal-condor-annex"
_ANNEXES = ("burst-1", "burst-2", "burst-3")


def rehearse_guardrail(
    target: AwsTarget,
    paths: LocalPaths,
    flags: SettingsFlags,
    emulator: Any,
    progress: Any,
    say: Callable[[str], None],
) -> bool:
    """`emulator` is the rehearsal's EmulatorProcess (its clock and IAM enforcement)."""
    capped = SettingsFlags(
        allow_from=tuple(flags.given.get("allowed_cidrs", ())),
        max_instances=CAP,
        heartbeat_minutes=HEARTBEAT_MINUTES,
    )
    run_setup(target, paths, capped, yes=False, progress=progress)
    cfn = CloudFormation(target)
    out = {
        **cfn.outputs(names.BUCKET_STACK),
        **cfn.outputs(names.LAMBDA_STACK),
        **cfn.outputs(names.INSTANCE_PROFILE_STACK),
        **cfn.outputs(names.SECURITY_GROUP_STACK),
        **cfn.outputs(names.GUARDRAIL_STACK),
    }
    account = AnnexAccount(target)
    launch: dict[str, Any] = {
        "image_id": REHEARSAL_IMAGE,
        "instance_profile_arn": out[names.OUT_INSTANCE_PROFILE],
        "security_group_ids": [out[names.OUT_SECURITY_GROUP]],
        "key_name": None,
    }
    for name in _ANNEXES:
        account.run_instances(
            Annex(name, out[names.OUT_BUCKET], out[names.OUT_ODI_LEASE]), **launch
        )
        time.sleep(1.1)  # EC2 reports launch times to the second: the newest must be known
    say(f"[guardrail] {len(_ANNEXES)} annexes launched, cap --max-instances {CAP}")
    fired = emulator.advance_clock(5 * 60 + 1)["fired"]
    left = {i["annex"] for i in live_annex_instances(target)}
    for f in fired:
        actions = [f"{a['action']} {a.get('annex', '')}".strip() for a in f["result"]["actions"]]
        say(f"[guardrail] scheduled run: {'; '.join(actions) or 'nothing'}")
    checks = [
        ("drained to the cap, newest annex first", left == set(_ANNEXES[:CAP])),
    ]

    refusal = _launch_refusal(target, emulator, out, launch)
    say(f"[guardrail] a launch as condor_annex's identity: {refusal or 'NOT refused'}")
    # Refused by the Deny itself, not for want of some other permission.
    refused = refusal is not None and "explicit deny" in refusal
    checks.append(("a new annex launch refused by the Deny while over the cap", refused))

    stale = emulator.advance_clock(HEARTBEAT_MINUTES * 60 + 1)["fired"]
    for f in stale:
        actions = [f"{a['action']} {a.get('annex', '')}".strip() for a in f["result"]["actions"]]
        say(
            f"[guardrail] scheduled run (heartbeat stale: {f['result']['heartbeat']['stale']}): "
            f"{'; '.join(actions) or 'nothing'}"
        )
    checks.append(("a stale heartbeat drained every annex", live_annex_instances(target) == []))
    for what, good in checks:
        say(f"  [guardrail] {'ok' if good else 'FAILED'}: {what}")
    return all(good for _, good in checks)


def _launch_refusal(
    target: AwsTarget, emulator: Any, out: dict[str, str], launch: dict[str, Any]
) -> str | None:
    """As condor_annex's identity (holding the Deny), with IAM enforced: why RunInstances
    failed (None: it did not)."""
    key_id, secret = make_annex_user(target, _CONDOR_USER, out[names.OUT_GUARDRAIL_DENY_POLICY])
    try:
        with tempfile.TemporaryDirectory(prefix="annex-condor-keys-") as keys:
            public, private = Path(keys) / "publicKeyFile", Path(keys) / "privateKeyFile"
            public.write_text(key_id)
            private.write_text(secret)
            public.chmod(0o600)
            private.chmod(0o600)
            as_condor = AwsTarget(
                target.region,
                Credentials(access_key_file=public, secret_key_file=private),
                endpoint_url=target.endpoint_url,
            )
            emulator.enforce_iam(True)
            try:
                AnnexAccount(as_condor).run_instances(
                    Annex("after-cap", out[names.OUT_BUCKET], out[names.OUT_ODI_LEASE]), **launch
                )
            # The SDK's refusal passes the wrapper unchanged (a service error, not ours).
            except Exception as err:
                return str(err)
            finally:
                emulator.enforce_iam(False)
            return None
    finally:
        remove_annex_user(target, _CONDOR_USER)
