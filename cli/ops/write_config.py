"""`annex-cdk write-config`: the post-deploy step alone, from the live stack outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.key_pair import private_key
from annex_cdk.aws.session import AwsTarget
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.ops.post_deploy import (
    PostDeployReport,
    local_writes_coming,
    post_deploy,
    preflight,
)
from annex_cdk.ops.setup import require_complete
from annex_stacks import names


@dataclass(frozen=True)
class WriteConfigReport:
    region: str
    user_config: Path
    local: PostDeployReport

    @property
    def ok(self) -> bool:
        return not self.local.problems

    def as_dict(self) -> dict[str, Any]:
        return {"region": self.region, "local": self.local.as_dict(), "ok": self.ok}


def run_write_config(
    target: AwsTarget, paths: LocalPaths, *, default_region: str | None = None
) -> WriteConfigReport:
    """Write the PEM and ~/.condor/user_config from complete, deployed stacks (after `cdk deploy`)."""
    local_writes_coming(target.region)  # the regions of one run write their blocks together
    target.account_id()
    outputs = require_complete(CloudFormation(target).engine(stack_sets=True))
    key_outputs = outputs.get(names.KEY_PAIR_STACK, {})
    key_name = key_outputs.get(names.OUT_KEY_PAIR_NAME)
    preflight(paths, target.region, key_name)
    local = post_deploy(
        paths,
        target.region,
        outputs,
        target.credentials,
        key_name=key_name,
        private_key=private_key(target, key_outputs),
        default_region=default_region,
    )
    return WriteConfigReport(region=target.region, user_config=paths.user_config, local=local)
