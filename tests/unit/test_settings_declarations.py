"""Each setting is declared once (annex_stacks/settings.py SETTINGS); the context keys, the
stacks' records, from_context/to_context and the CLI flags of setup, diff and synth derive from it."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from annex_cdk.commands import app as cli
from annex_cdk.commands.options import AwsOptions, settings_group, with_options
from annex_cdk.errors import UsageError
from annex_cdk.ops import setup
from annex_cdk.ops.setup import SetupReport
from annex_stacks import AnnexSettings, names
from annex_stacks import settings as settings_module
from annex_stacks.facade import _CONTEXT_KEYS, _RECORDED
from annex_stacks.settings import (
    SETTINGS,
    Setting,
    SettingsFlags,
    context_keys,
    flag_settings,
    overrides_from_flags,
    recorded_by_stack,
)

#: The flags the README documents; --collector-host is the CLI's own, not a setting.
SETTINGS_FLAGS = {
    "--allow-from",
    "--ssh",
    "--no-ssh",
    "--collector-port",
    "--key-name",
    "--reuse-key-pair",
    "--tag",
    "--retain-bucket",
    "--no-retain-bucket",
    "--submit-host-role",
    "--ci-roles",
    "--ci-repository",
    "--ci-environment",
    "--ci-oidc-provider-arn",
    "--collector-host",
}


def test_declarations_match_the_settings_object_and_the_external_names():
    fields = {f.name for f in dataclasses.fields(AnnexSettings)}
    assert {s.field for s in SETTINGS} == fields
    ctx_names = {getattr(names, n) for n in dir(names) if n.startswith("CTX_")}
    assert set(context_keys()) == ctx_names == set(_CONTEXT_KEYS)
    assert len(context_keys()) == len(SETTINGS)  # no key declared twice


def test_each_stack_records_what_it_always_recorded():
    assert {k: set(v) for k, v in _RECORDED.items()} == {
        names.BUCKET_STACK: {
            names.CTX_RETAIN_BUCKET,
            names.CTX_EXTRA_TAGS,
            names.CTX_KEY_PAIR_NAME,
            names.CTX_CREATE_KEY_PAIR,
            names.CTX_BUCKET_NAME,
            names.CTX_PERMISSIONS_BOUNDARY,
        },
        names.SECURITY_GROUP_STACK: {
            names.CTX_ALLOWED_CIDRS,
            names.CTX_CIDRS_FROM_COLLECTOR,
            names.CTX_SSH,
            names.CTX_COLLECTOR_PORT,
            names.CTX_GROUP_DESCRIPTION,
        },
        names.SUBMIT_HOST_STACK: {names.CTX_SUBMIT_HOST_ROLE},
        names.CONDOR_USER_STACK: {names.CTX_CONDOR_USER},
        names.CI_ROLES_STACK: {
            names.CTX_CI_ROLES,
            names.CTX_CI_REPOSITORY,
            names.CTX_CI_ENVIRONMENT,
            names.CTX_CI_OIDC_PROVIDER,
        },
        names.IMAGE_STACK: {
            names.CTX_BUILD_IMAGE,
            names.CTX_IMAGE_HTCONDOR,
            names.CTX_IMAGE_ARCH,
            names.CTX_IMAGE_VERSION,
        },
        names.GUARDRAIL_STACK: {
            names.CTX_MAX_INSTANCES,
            names.CTX_MAX_VCPUS,
            names.CTX_MAX_INSTANCE_HOURS,
            names.CTX_MAX_DOLLARS,
            names.CTX_HEARTBEAT_MINUTES,
            names.CTX_BUDGET_EMAIL,
        },
    }


def test_sparse_settings_stay_out_of_the_context_until_set():
    ctx = AnnexSettings().to_context()
    for key in (
        names.CTX_REGION,
        names.CTX_ACCOUNT,
        names.CTX_BUCKET_NAME,
        names.CTX_GROUP_DESCRIPTION,
        names.CTX_SUBMIT_HOST_ROLE,
        names.CTX_BUILD_IMAGE,
    ):
        assert key not in ctx
    assert ctx[names.CTX_SSH] is True and ctx[names.CTX_RETAIN_BUCKET] is False
    assert AnnexSettings(submit_host_role=True).to_context()[names.CTX_SUBMIT_HOST_ROLE] is True
    assert AnnexSettings.from_context({names.CTX_BUCKET_NAME: ""}).bucket_name is None


@pytest.mark.parametrize(
    ("flags", "given"),
    [
        ({}, {}),
        ({"allow_from": ()}, {}),
        ({"allow_from": ["198.51.100.7/32"]}, {"allowed_cidrs": ("198.51.100.7/32",)}),
        ({"ssh": None}, {}),
        ({"ssh": False}, {"ssh": False}),
        ({"reuse_key_pair": False}, {}),
        ({"reuse_key_pair": True}, {"create_key_pair": False}),
        ({"submit_host_role": True}, {"submit_host_role": True}),
        ({"tag": {}}, {"extra_tags": {}}),  # --tag given with nothing: no tags
        ({"retain_bucket": False}, {"retain_bucket": False}),
        ({"key_name": "mine", "collector_port": 9700}, {"key_pair_name": "mine", "collector_port": 9700}),
    ],
)  # fmt: skip
def test_flags_become_settings_fields_only_when_passed(flags, given):
    assert SettingsFlags(**flags).given == given


def test_an_unknown_settings_flag_is_refused():
    with pytest.raises(TypeError, match="bucket_name"):
        overrides_from_flags({"bucket_name": "x"})  # a setting, but not a flag


def _option_names(command_name: str) -> set[str]:
    group = get_command(cli.app)
    command = group.commands[command_name]  # type: ignore[attr-defined]
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}


@pytest.mark.parametrize("command", ["setup", "diff", "synth"])
def test_setup_diff_and_synth_take_the_same_settings_flags(command):
    assert _option_names(command) >= SETTINGS_FLAGS


def test_synth_takes_no_aws_target_options():
    options = _option_names("synth")
    assert not {"--profile", "--endpoint-url", "--access-key-file", "--from-instance"} & options


def test_the_command_line_hands_setup_the_parsed_flags(monkeypatch):
    seen = {}

    def fake_run_setup(target, paths, flags, **kwargs):
        seen.update(target=target, flags=flags, kwargs=kwargs)
        return SetupReport(
            region="eu-west-1", account="123456789012", stacks={}, local=None,
            settings=AnnexSettings(region="eu-west-1"), cdk_context=None,
            timings={"total_s": 0.0}, synth_cached=True,
        )  # fmt: skip

    monkeypatch.setattr(setup, "run_setup", fake_run_setup)  # imported when setup runs
    monkeypatch.setattr(
        AwsOptions,
        "target",
        lambda self, local=True, region=None: ("target", region, self.profile),
    )
    args = ["setup", "--region", "eu-west-1", "--profile", "p", "--allow-from", "198.51.100.7/32"]
    args += ["--allow-from", "203.0.113.0/24", "--no-ssh", "--reuse-key-pair", "--tag", "a=b=c"]
    args += ["--collector-host", "cm.example.org:9700", "--yes", "--json"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert seen["target"] == ("target", "eu-west-1", "p")
    flags = seen["flags"]
    assert flags.collector_host == "cm.example.org:9700"
    assert flags.given == {
        "allowed_cidrs": ("198.51.100.7/32", "203.0.113.0/24"),
        "ssh": False,
        "create_key_pair": False,
        "extra_tags": {"a": "b=c"},
    }
    assert seen["kwargs"]["yes"] is True


def test_a_tag_without_a_value_is_a_usage_error():
    result = CliRunner().invoke(cli.app, ["synth", "--tag", "novalue"])
    assert isinstance(result.exception, UsageError)
    assert "--tag 'novalue' is not KEY=VALUE" in str(result.exception)


def test_main_turns_a_usage_error_into_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["annex-cdk", "setup", "--no-such-flag"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    assert "No such option: --no-such-flag" in capsys.readouterr().err


def test_each_main_run_starts_without_the_previous_runs_json_and_exit_code(monkeypatch, capsys):
    # main() in one process twice (tests, an embedding program): the first run's --json and
    # `diff --exit-code` must not turn the second run's usage error into JSON or exit 2's twin.
    monkeypatch.setattr(sys, "argv", ["annex-cdk", "diff", "--json", "--exit-code", "--nope"])
    with pytest.raises(SystemExit) as first:
        cli.main()
    assert first.value.code == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["error"]["kind"] == "usage"
    assert "No such option: --nope" in out.err  # the line on stderr as well

    monkeypatch.setattr(sys, "argv", ["annex-cdk", "setup", "--no-such-flag"])
    with pytest.raises(SystemExit) as second:
        cli.main()
    assert second.value.code == 2
    out = capsys.readouterr()
    assert out.out == ""  # no JSON document: this run did not ask for one
    assert "No such option: --no-such-flag" in out.err


# --- Adding a setting: one declaration gives its key, its record and its flag ---------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class _WithColour(AnnexSettings):
    colour: str = "blue"


COLOUR = Setting(
    field="colour",
    context_key="annex:colour",
    kind=str,
    recorded_by=names.SECURITY_GROUP_STACK,
    flag="--colour",
    help="The colour of everything.",
)


def test_a_new_declaration_yields_its_context_key_record_and_context_round_trip(monkeypatch):
    extended = (*SETTINGS, COLOUR)
    assert "annex:colour" not in context_keys()
    assert context_keys(extended)[-1] == "annex:colour"
    assert recorded_by_stack(extended)[names.SECURITY_GROUP_STACK][-1] == "annex:colour"
    assert "annex:colour" not in recorded_by_stack(extended)[names.BUCKET_STACK]
    assert flag_settings(extended)[-1] is COLOUR

    monkeypatch.setattr(settings_module, "SETTINGS", extended)
    built = _WithColour.from_context({"annex:colour": "red", names.CTX_SSH: "false"})
    assert built.colour == "red" and built.ssh is False
    assert built.to_context()["annex:colour"] == "red"


def test_a_new_declaration_yields_its_flag_on_a_command():
    seen = {}

    def show(flags: SettingsFlags, loud: Annotated[bool, typer.Option("--loud")] = False) -> None:
        seen.update(flags=flags, loud=loud)

    app = typer.Typer(rich_markup_mode=None)
    app.command()(with_options(show, {SettingsFlags: settings_group((*SETTINGS, COLOUR))}))
    help_text = CliRunner().invoke(app, ["--help"]).output
    assert "--colour" in help_text and "The colour of everything." in help_text
    result = CliRunner().invoke(app, ["--colour", "red", "--no-ssh", "--loud"])
    assert result.exit_code == 0, result.output
    assert seen["flags"].given == {"colour": "red", "ssh": False}
    assert seen["loud"] is True


@pytest.mark.parametrize(("exit_code_flag", "expected"), [((), 3), (("--exit-code",), 2)])
def test_diff_exit_code_makes_every_error_2(
    monkeypatch, capsys, tmp_path, exit_code_flag, expected
):
    # A credentials error (3) before any AWS call; `diff --exit-code` promises CI 2 for it.
    missing = str(tmp_path / "missing")
    argv = ["annex-cdk", "diff", *exit_code_flag, "--access-key-file", missing]
    monkeypatch.setattr(sys, "argv", [*argv, "--secret-key-file", missing, "--region", "us-east-1"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == expected
    assert "does not exist" in capsys.readouterr().err
