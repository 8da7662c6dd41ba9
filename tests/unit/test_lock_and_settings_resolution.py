"""The SSM lock, and how setup resolves its settings from flags, deployed stacks and HTCondor."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import boto3
import pytest
from moto import mock_aws

from annex_cdk.aws import lock
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import LockedError, UsageError
from annex_cdk.ops.settings_resolution import (
    SettingsFlags,
    _split_host_port,
    collector_cidr,
    resolve_settings,
)
from annex_cdk.ops.setup import warn_if_world_open
from annex_stacks import names
from tests.documented import documented_number


@pytest.fixture
def ssm(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def test_lock_excludes_a_second_holder_and_is_released(ssm):
    with lock.held(ssm, "setup"):
        with pytest.raises(LockedError, match="another annex-cdk setup"), lock.held(ssm, "setup"):
            pass
        # The failed attempt must not have released the first holder's lock.
        assert ssm.get_parameter(Name=names.LOCK_PARAMETER)["Parameter"]["Value"]
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=names.LOCK_PARAMETER)


def test_lock_is_released_when_the_body_fails(ssm):
    with pytest.raises(RuntimeError), lock.held(ssm, "setup"):
        raise RuntimeError("deploy failed")
    with lock.held(ssm, "destroy"):
        pass


def test_stale_lock_is_taken_over(ssm):
    old = time.time() - lock.STALE_AFTER_S - 60
    with lock.held(ssm, "setup", now=old), lock.held(ssm, "setup"):
        holder = ssm.get_parameter(Name=names.LOCK_PARAMETER)["Parameter"]["Value"]
        assert f'"since": {old}' not in holder


def _plant(ssm, **holder):
    """A lock as another run would have left it."""
    value = {"host": socket.gethostname(), "purpose": "setup", "since": time.time(), **holder}
    ssm.put_parameter(Name=names.LOCK_PARAMETER, Value=json.dumps(value), Type="String")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_lock_of_a_dead_process_on_this_host_is_taken_over(ssm):
    _plant(ssm, pid=_dead_pid(), token="dead")
    with lock.held(ssm, "setup"):
        holder = json.loads(ssm.get_parameter(Name=names.LOCK_PARAMETER)["Parameter"]["Value"])
        assert holder["pid"] == os.getpid() and holder["token"] != "dead"


def test_lock_of_a_live_process_or_another_host_is_respected(ssm):
    _plant(ssm, pid=os.getppid(), token="alive")
    with pytest.raises(LockedError, match=f"pid {os.getppid()}"), lock.held(ssm, "setup"):
        pass
    ssm.delete_parameter(Name=names.LOCK_PARAMETER)
    _plant(ssm, host="elsewhere.example.org", pid=_dead_pid(), token="remote")
    with (
        pytest.raises(LockedError, match=r"elsewhere\.example\.org") as raised,
        lock.held(ssm, "setup"),
    ):
        pass
    assert "annex-cdk unlock" in (raised.value.hint or "")


def test_only_the_holder_releases_the_lock(ssm):
    """A run whose lock was taken over (stale, unlocked) must not remove the new holder's."""
    with lock.held(ssm, "setup"):
        ssm.delete_parameter(Name=names.LOCK_PARAMETER)
        _plant(ssm, pid=os.getppid(), token="new-holder")
    holder = json.loads(ssm.get_parameter(Name=names.LOCK_PARAMETER)["Parameter"]["Value"])
    assert holder["token"] == "new-holder"
    assert not lock.release(ssm, "someone-else")
    assert lock.release(ssm, "new-holder")
    assert lock.holder_of(ssm) is None


def test_an_unreadable_lock_is_taken_over(ssm):
    ssm.put_parameter(Name=names.LOCK_PARAMETER, Value="not json", Type="String")
    with lock.held(ssm, "setup"):
        assert lock.holder_of(ssm)["pid"] == os.getpid()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("collector.example.org:9618", ("collector.example.org", 9618)),
        ("collector.example.org", ("collector.example.org", None)),
        ("<192.0.2.4:9700?addrs=192.0.2.4-9700>", ("192.0.2.4", 9700)),
        ("[2001:db8::1]:9618", ("2001:db8::1", 9618)),
    ],
)
def test_split_host_port(value, expected):
    assert _split_host_port(value) == expected


def _resolve_to(monkeypatch, address):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *a, **k: [(socket.AF_INET, 1, 6, "", (address, 0))]
    )


def test_collector_public_address_becomes_a_host_cidr(monkeypatch):
    _resolve_to(monkeypatch, "8.8.4.4")
    assert collector_cidr("collector.example.org:9700") == ("8.8.4.4/32", 9700)


def test_private_collector_address_asks_for_allow_from(monkeypatch):
    _resolve_to(monkeypatch, "10.1.2.3")
    with pytest.raises(UsageError, match="not a public address") as err:
        collector_cidr("condor.internal")
    assert "--allow-from" in (err.value.hint or "")


def test_flags_win_over_recorded_and_recorded_over_defaults(tmp_path, monkeypatch):
    paths = LocalPaths(tmp_path)
    recorded = {
        names.CTX_ALLOWED_CIDRS: ["203.0.113.0/24"],
        names.CTX_SSH: False,
        names.CTX_COLLECTOR_PORT: 9700,
    }
    kept = resolve_settings(SettingsFlags(), region="us-east-1", recorded=recorded, paths=paths)
    assert kept.allowed_cidrs == ("203.0.113.0/24",)
    assert kept.ssh is False and kept.collector_port == 9700
    changed = resolve_settings(
        SettingsFlags(allow_from=("198.51.100.0/24",), ssh=True),
        region="us-east-1",
        recorded=recorded,
        paths=paths,
    )
    assert changed.allowed_cidrs == ("198.51.100.0/24",)
    assert changed.ssh is True and changed.collector_port == 9700


def test_default_cidr_and_port_come_from_collector_host(tmp_path, monkeypatch):
    _resolve_to(monkeypatch, "8.8.4.4")
    config = tmp_path / "condor_config"
    config.write_text("COLLECTOR_HOST = collector.example.org:9650\n")
    monkeypatch.setenv("CONDOR_CONFIG", str(config))
    s = resolve_settings(
        SettingsFlags(), region="us-east-1", recorded={}, paths=LocalPaths(tmp_path)
    )
    assert s.allowed_cidrs == ("8.8.4.4/32",)
    assert s.collector_port == 9650


def test_no_collector_host_and_no_flag_is_a_clear_error(tmp_path, monkeypatch):
    config = tmp_path / "condor_config"
    config.write_text("# nothing here\n")
    monkeypatch.setenv("CONDOR_CONFIG", str(config))
    with pytest.raises(UsageError, match="no --allow-from"):
        resolve_settings(
            SettingsFlags(), region="us-east-1", recorded={}, paths=LocalPaths(tmp_path)
        )


def test_invalid_flag_is_a_usage_error_naming_the_setting(tmp_path):
    with pytest.raises(UsageError, match="allowed_cidrs"):
        resolve_settings(
            SettingsFlags(allow_from=("not-a-cidr",)),
            region="us-east-1",
            recorded={},
            paths=LocalPaths(tmp_path),
        )


@pytest.mark.hostile
def test_a_changed_collector_host_wins_over_the_recorded_cidr(tmp_path, monkeypatch):
    """Regression: once stacks existed, --collector-host was silently ignored."""
    _resolve_to(monkeypatch, "8.8.4.4")
    recorded = {names.CTX_ALLOWED_CIDRS: ["203.0.113.7/32"], names.CTX_COLLECTOR_PORT: 9618}
    s = resolve_settings(
        SettingsFlags(collector_host="moved.example.org:9700"),
        region="us-east-1",
        recorded=recorded,
        paths=LocalPaths(tmp_path),
    )
    assert s.allowed_cidrs == ("8.8.4.4/32",)
    assert s.collector_port == 9700


@pytest.mark.hostile
def test_an_unresolvable_collector_host_is_an_error_even_with_recorded_settings(
    tmp_path, monkeypatch
):
    def fail(*_a, **_k):
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    recorded = {names.CTX_ALLOWED_CIDRS: ["203.0.113.7/32"]}
    with pytest.raises(UsageError, match="cannot resolve the collector host"):
        resolve_settings(
            SettingsFlags(collector_host="nowhere.invalid"),
            region="us-east-1",
            recorded=recorded,
            paths=LocalPaths(tmp_path),
        )


@pytest.mark.hostile
def test_host_bits_and_a_split_world_warn(tmp_path, capsys):
    s = resolve_settings(
        SettingsFlags(allow_from=("0.0.0.0/1", "128.0.0.1/1")),
        region="us-east-1",
        recorded={},
        paths=LocalPaths(tmp_path),
    )
    assert s.world_open
    err = " ".join(capsys.readouterr().err.split())
    assert "128.0.0.1/1 has host bits set" in err


@pytest.mark.hostile
def test_the_world_open_warning_reads_the_templates_to_deploy(capsys):
    """An edited template (cache or otherwise) opening the group is judged by what it says."""
    group = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {"SecurityGroupIngress": [{"CidrIp": "198.51.100.7/32"}]},
    }
    templates = {names.SECURITY_GROUP_STACK: {"Resources": {"SecurityGroup": group}}}
    warn_if_world_open(templates)
    assert "anywhere" not in capsys.readouterr().err
    group["Properties"]["SecurityGroupIngress"] += [
        {"CidrIp": "0.0.0.0/1"},
        {"CidrIp": "128.0.0.0/1"},
    ]
    warn_if_world_open(templates)
    assert "from anywhere" in " ".join(capsys.readouterr().err.split())


@pytest.mark.hostile
def test_a_cidr_derived_from_collector_host_follows_it(tmp_path, monkeypatch):
    """Regression: a changed COLLECTOR_HOST was ignored once stacks existed. A CIDR derived from
    it is recorded as such and derived again; one given by --allow-from stays put."""
    config = tmp_path / "condor_config"
    config.write_text("COLLECTOR_HOST = first.example.org\n")
    monkeypatch.setenv("CONDOR_CONFIG", str(config))
    paths = LocalPaths(tmp_path)
    _resolve_to(monkeypatch, "8.8.4.4")
    first = resolve_settings(SettingsFlags(), region="us-east-1", recorded={}, paths=paths)
    assert first.cidrs_from_collector == "first.example.org"
    recorded = first.to_context()
    config.write_text("COLLECTOR_HOST = moved.example.org\n")
    _resolve_to(monkeypatch, "8.8.8.8")
    moved = resolve_settings(SettingsFlags(), region="us-east-1", recorded=recorded, paths=paths)
    assert moved.allowed_cidrs == ("8.8.8.8/32",)
    assert moved.cidrs_from_collector == "moved.example.org"
    # --allow-from once: then the recorded CIDR is the user's, and COLLECTOR_HOST no longer moves it.
    given = resolve_settings(
        SettingsFlags(allow_from=("203.0.113.0/24",)),
        region="us-east-1",
        recorded=moved.to_context(),
        paths=paths,
    )
    assert given.cidrs_from_collector is None
    kept = resolve_settings(
        SettingsFlags(), region="us-east-1", recorded=given.to_context(), paths=paths
    )
    assert kept.allowed_cidrs == ("203.0.113.0/24",)


def test_a_lock_is_stale_after_the_documented_age(ssm):
    """The age is checked against what docs/concepts.md promises, not the code's constant: a
    lock just younger than that is respected, one just older is taken over."""
    hours = documented_number("concepts.md", r"a lock older than (\w+) hours is stale")
    for age, taken in ((hours * 3600 - 60, False), (hours * 3600 + 60, True)):
        ssm.put_parameter(
            Name=names.LOCK_PARAMETER,
            Value=json.dumps(
                {
                    "host": "elsewhere",
                    "pid": 1,
                    "purpose": "setup",
                    "since": time.time() - age,
                    "token": "t",
                }
            ),
            Type="String",
            Overwrite=True,
        )
        if taken:
            with lock.held(ssm, "setup"):
                pass
        else:
            with pytest.raises(LockedError), lock.held(ssm, "setup"):
                pass


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ({"image_arch": "arm64"}, "--image-arch has no effect without --build-image"),
        ({"image_htcondor": "24.0"}, "--image-htcondor has no effect without --build-image"),
        ({"image_version": "1.2.3"}, "--image-version has no effect without --build-image"),
        ({"ci_repository": "octo/pool"}, "--ci-repository has no effect without --ci-roles"),
    ],
)
def test_an_add_on_flag_without_its_add_on_is_a_usage_error(tmp_path, flags, named):
    allow = {"allow_from": ("198.51.100.0/24",)}
    with pytest.raises(UsageError, match=named):
        resolve_settings(
            SettingsFlags(**allow, **flags), region="us-east-1", recorded={}, paths=None
        )
    # With its add-on, given now or deployed before (recorded), the flag counts.
    switch = "build_image" if "image" in next(iter(flags)) else "ci_roles"
    extra = {"ci_repository": "octo/pool"} if switch == "ci_roles" else {}
    given = SettingsFlags(**allow, **{**extra, **flags, switch: True})
    assert resolve_settings(given, region="us-east-1", recorded={}, paths=None)
    if switch == "build_image":
        recorded = {names.CTX_BUILD_IMAGE: True}
        resolved = resolve_settings(
            SettingsFlags(**allow, **flags), region="us-east-1", recorded=recorded, paths=None
        )
        assert resolved.build_image
