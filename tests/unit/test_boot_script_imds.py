"""The annex image's boot script where IMDSv2 is required: HTCondor's own fails, ours boots.

Both run for real (bash) against `tests.imds_server`, a metadata server on loopback that follows
AWS's documented protocol. HTCondor's script is the reference copy in
../shared/reference/condor_annex_boot/; ours is that copy patched by the image component's own
step (BootScriptSpeaksImdsV2, run as AWSTOE runs it, with `rpm -ql` answering where the package
put the script). What an instance has and the metadata server does not (its address, the
paths under /etc, iptables, shutdown, the AWS CLI) is moved into a scratch directory in the
same way for both scripts, so the only difference between the runs is the patch.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from annex_stacks.image_stack import component_document
from tests.imds_server import TOKEN_PATH, TTL_HEADER, MetadataServer, metadata_server

REAL_SCRIPT = Path(__file__).resolve().parents[2] / "../shared/reference/condor_annex_boot"
REAL_SCRIPT = REAL_SCRIPT.resolve() / "condor-annex-ec2"
PATCH_STEP = "BootScriptSpeaksImdsV2"
CHECK_STEP = "CheckBootScriptSpeaksImdsV2"
#: The instance's annex: condor_annex's client token is `<annex ID>_<uuid>` (generate-id.cpp).
ANNEX_ID = "physics"
CLIENT_TOKEN = f"{ANNEX_ID}_0f8fad5b-d9cb-469f-a165-70867728950e"
BUCKET = "annex-config-bucket"
CONFIG_LINE = "START = TRUE\n"

# The AWS CLI as the boot script reads it (it greps the JSON lines, `"Key": "value",`).
_AWS_STUB = r"""
import shutil, sys, os
args = [a for a in sys.argv[1:]]
def has(*words): return all(w in args for w in words)
if has("ec2", "describe-instances"):
    print('{\n "Reservations": [{"Instances": [{\n  "ClientToken": "%s",\n'
          '  "Tags": [\n   {\n    "Key": "htcondor:AnnexName",\n    "Value": "%s"\n   }\n  ]\n'
          ' }]}]\n}' % (os.environ["STUB_CLIENT_TOKEN"], os.environ["STUB_ANNEX_ID"]))
elif has("iam", "get-instance-profile"):
    print('{\n    "InstanceProfile": {\n        "Roles": [\n            {\n'
          '                "RoleName": "annex-instance-role",\n            }\n        ]\n    }\n}')
elif has("iam", "list-attached-role-policies"):
    print('{\n    "AttachedPolicies": [\n        {\n            "PolicyName": "annex",\n'
          '            "PolicyArn": "arn:aws:iam::123456789012:policy/annex-config",\n'
          '        }\n    ]\n}')
elif has("iam", "get-policy"):
    print('{\n    "Policy": {\n        "DefaultVersionId": "v1",\n    }\n}')
elif has("iam", "get-policy-version"):
    print('{\n    "PolicyVersion": {\n        "Document": {\n            "Statement": [{\n'
          '                "Resource": "arn:aws:s3:::%s/config-*.tar.gz",\n'
          '            }]\n        }\n    }\n}' % os.environ["STUB_BUCKET"])
elif has("iam", "list-role-policies"):
    print('{\n    "PolicyNames": []\n}')
elif has("s3", "cp"):
    source = args[args.index("cp") + 1]
    tarball = os.path.join(os.environ["STUB_S3"], source.removeprefix("s3://"))
    if not os.path.exists(tarball):
        sys.exit(1)
    shutil.copy(tarball, args[args.index("cp") + 2])
else:
    sys.exit(f"aws stub: unexpected {args}")
"""


@dataclass
class Boot:
    code: int
    output: str
    instance_config: str
    extracted: bool


class Instance:
    """A scratch directory standing in for the instance around one copy of the script."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc_condor = root / "etc-condor"
        (self.etc_condor / "config.d").mkdir(parents=True)
        self.bin = root / "bin"
        self.bin.mkdir()
        (root / "functions").write_text("")
        for name in ("iptables", "shutdown"):
            self._executable(name, "#!/bin/sh\nexit 0\n")
        self._executable("aws", f"#!{sys.executable}\n{_AWS_STUB}")
        s3 = root / "s3" / BUCKET
        s3.mkdir(parents=True)
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz") as tar:
            info = tarfile.TarInfo("config.d/50ec2.config")
            info.size = len(CONFIG_LINE)
            tar.addfile(info, io.BytesIO(CONFIG_LINE.encode()))
        (s3 / f"config-{ANNEX_ID}.tar.gz").write_bytes(data.getvalue())

    def _executable(self, name: str, text: str) -> Path:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)
        return path

    def localise(self, script: Path, imds_url: str) -> None:
        """The instance's fixed places moved here; the same for HTCondor's script and ours."""
        text = script.read_text()
        for fixed, here in (
            ("http://169.254.169.254", imds_url),
            ("/etc/init.d/functions", str(self.root / "functions")),
            ("/etc/sysconfig/", str(self.root / "sysconfig") + "/"),
            ("/etc/condor", str(self.etc_condor)),
            ("/dev/nvme1n1", str(self.root / "no-such-device")),
            ("/sbin/iptables", str(self.bin / "iptables")),
            ("/sbin/shutdown", str(self.bin / "shutdown")),
        ):
            text = text.replace(fixed, here)
        script.write_text(text)

    def boot(self, script: Path) -> Boot:
        env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "HOME": str(self.root),
            "STUB_CLIENT_TOKEN": CLIENT_TOKEN,
            "STUB_ANNEX_ID": ANNEX_ID,
            "STUB_BUCKET": BUCKET,
            "STUB_S3": str(self.root / "s3"),
        }
        proc = subprocess.run(
            ["bash", str(script), "start"],
            env=env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        config = self.etc_condor / "config.d" / "49ec2-instance.config"
        extracted = self.etc_condor / "config.d" / "50ec2.config"
        return Boot(
            proc.returncode,
            proc.stdout + proc.stderr,
            config.read_text() if config.exists() else "",
            extracted.exists() and extracted.read_text() == CONFIG_LINE,
        )


def _step(name: str) -> str:
    document = yaml.safe_load(component_document())
    [step] = [s for p in document["phases"] for s in p["steps"] if s["name"] == name]
    return "\n".join(step["inputs"]["commands"])


def _run_step(name: str, script: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """The component's step as AWSTOE runs it (one bash script), `rpm -ql condor-annex-ec2`
    answering with this copy of the script and the package's other files."""
    stub = root / "rpm-bin"
    stub.mkdir(exist_ok=True)
    rpm = stub / "rpm"
    rpm.write_text(
        "#!/bin/sh\n"
        f"echo /usr/lib/systemd/system/condor-annex-ec2.service\necho {script}\n"
        "echo /usr/share/doc/condor-annex-ec2\n"
    )
    rpm.chmod(0o755)
    step = root / f"{name}.sh"
    step.write_text("#!/bin/bash\n" + _step(name) + "\n")
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(step)], env=env, capture_output=True, text=True)


def _copy(root: Path, patched: bool) -> tuple[Instance, Path]:
    instance = Instance(root)
    script = root / "condor-annex-ec2"
    shutil.copyfile(REAL_SCRIPT, script)
    if patched:
        done = _run_step(PATCH_STEP, script, root)
        assert done.returncode == 0, done.stderr
    return instance, script


def _boot(root: Path, server: MetadataServer, *, patched: bool) -> Boot:
    instance, script = _copy(root, patched)
    instance.localise(script, server.url)
    return instance.boot(script)


def test_htcondors_boot_script_never_joins_where_imdsv2_is_required(tmp_path: Path):
    with metadata_server("v2_only") as server:
        boot = _boot(tmp_path, server, patched=False)
    # condor-annex-ec2:45-51: instance-id comes back empty (the 401), so it exits.
    assert boot.code != 0 and "failed!" in boot.output
    assert "EC2InstanceID" not in boot.instance_config and not boot.extracted
    assert {r.status for r in server.gets()} == {401}
    assert all(r.token is None for r in server.gets())


def test_our_boot_script_joins_where_imdsv2_is_required(tmp_path: Path):
    with metadata_server("v2_only") as server:
        boot = _boot(tmp_path, server, patched=True)
    assert boot.code == 0 and "done." in boot.output, boot.output
    instance = server.instance
    assert f'EC2InstanceID = "{instance.instance_id}"' in boot.instance_config
    assert f"EC2PublicIP = {instance.public_ip}" in boot.instance_config
    assert f"Found instance profile ARN '{instance.profile_arn}'" in boot.instance_config
    assert boot.extracted  # the annex's config tarball, found through the instance role
    # Every metadata read carried a token the server handed out, after a PUT with its TTL.
    gets = server.gets()
    assert {r.path for r in gets} == set(instance.paths())
    assert all(r.token in server.tokens and r.status == 200 for r in gets)
    assert any(r.method == "PUT" and r.path == TOKEN_PATH for r in server.requests)


def test_both_scripts_boot_where_no_token_can_be_had(tmp_path: Path):
    """IMDSv1 only where tokens are unavailable: ours falls back, as HTCondor's always reads."""
    for patched in (False, True):
        with metadata_server("v1_only") as server:
            boot = _boot(tmp_path / str(patched), server, patched=patched)
        assert boot.code == 0 and boot.extracted, boot.output
        assert f'EC2InstanceID = "{server.instance.instance_id}"' in boot.instance_config
        assert all(r.token is None for r in server.gets())


def test_the_patch_is_idempotent_and_checked_by_the_validate_step(tmp_path: Path):
    _, script = _copy(tmp_path, patched=True)
    once = script.read_text()
    assert _run_step(PATCH_STEP, script, tmp_path).returncode == 0
    assert script.read_text() == once  # a re-run of the build step changes nothing
    assert once.count("annex_imds()") == 1
    assert _run_step(CHECK_STEP, script, tmp_path).returncode == 0
    shutil.copyfile(REAL_SCRIPT, script)  # the package's script, unpatched
    assert _run_step(CHECK_STEP, script, tmp_path).returncode != 0


def test_the_patch_step_fails_when_the_package_has_no_script_to_patch(tmp_path: Path):
    script = tmp_path / "condor-annex-ec2"
    script.write_text("#!/bin/bash\necho nothing to read\n")
    done = _run_step(PATCH_STEP, script, tmp_path)
    assert done.returncode != 0 and "no condor-annex-ec2 script reads instance metadata" in (
        done.stderr
    )


@pytest.mark.parametrize("ttl", ["", "0", "21601"])
def test_the_metadata_server_refuses_a_token_without_a_valid_ttl(ttl: str):
    """The harness itself follows AWS's protocol: 400 without a TTL of 1 to 21600 seconds."""
    import urllib.error
    import urllib.request

    with metadata_server("v2_only") as server:
        headers = {TTL_HEADER: ttl} if ttl else {}
        request = urllib.request.Request(server.url + TOKEN_PATH, method="PUT", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request)
        assert refused.value.code == 400
