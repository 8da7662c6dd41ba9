"""botocore's API models as annex-cdk's clients load them (session.JsonFiles): the same data,
in the same order, as botocore's own file loader reads from its own files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from botocore.loaders import JSONFileLoader, create_loader

from annex_cdk.aws import session
from annex_cdk.aws.session import AwsTarget, Credentials, JsonFiles
from annex_cdk.errors import CredentialsError


@pytest.mark.parametrize("service", ["ec2", "cloudformation", "s3", "iam", "sts"])
def test_a_model_reads_as_botocore_reads_it(service: str) -> None:
    theirs, ours = create_loader(), create_loader()
    ours.file_loader = JsonFiles()
    for kind in ("service-2", "endpoint-rule-set-1"):
        mine = ours.load_service_model(service, kind)
        assert json.dumps(mine) == json.dumps(theirs.load_service_model(service, kind))


def test_a_missing_file_is_none_as_for_botocore(tmp_path: Path) -> None:
    missing = str(tmp_path / "nothing")
    assert JsonFiles().load_file(missing) is None is JSONFileLoader().load_file(missing)
    assert not JsonFiles().exists(missing)


def test_the_clients_load_through_it() -> None:
    target = AwsTarget("us-east-1", Credentials())
    target.client("sts")
    loader = target.session.get_component("data_loader")
    assert isinstance(loader.file_loader, JsonFiles)


def test_regions_making_their_clients_at_once_read_each_file_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The regions of one run make their clients at the same moment; a thread that missed the
    shared loader's cache while another was filling it read every file again."""
    monkeypatch.setattr(session, "_loader", None)  # a run's first loader
    read: list[str] = []
    real = JsonFiles.load_file

    def counted(self: JsonFiles, file_path: str) -> object:
        read.append(file_path)
        return real(self, file_path)

    monkeypatch.setattr(JsonFiles, "load_file", counted)
    regions = ("us-east-1", "us-west-2", "eu-west-1")
    targets = [AwsTarget(region, Credentials()) for region in regions]
    together = threading.Barrier(len(targets), timeout=30)

    def make(target: AwsTarget) -> None:
        together.wait()
        target.client("ec2")
        target.client("cloudformation")

    threads = [threading.Thread(target=make, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read and sorted(read) == sorted(set(read))


def test_a_profile_that_is_not_there_is_a_credentials_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    target = AwsTarget("us-east-1", Credentials(), profile="nosuch")
    with pytest.raises(CredentialsError, match="AWS profile 'nosuch' not found") as caught:
        target.client("sts")
    assert caught.value.hint == session.PROFILE_HINT


def _model_file() -> str:
    """The path botocore's loader asks JsonFiles for: EC2's latest API model, no extension."""
    loader = create_loader()
    return str(
        Path(loader.search_paths[-1])
        / "ec2"
        / loader.determine_latest_version("ec2", "service-2")
        / "service-2"
    )


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """A private cache directory, and the files JsonFiles parses from their JSON."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    parsed: list[str] = []
    real = session.json.loads

    def counted(text: str, **kwargs: object) -> object:
        parsed.append(text[:20])
        return real(text, **kwargs)  # type: ignore[arg-type]  # json.loads' keywords, passed on

    monkeypatch.setattr(session.json, "loads", counted)
    return parsed


def test_a_file_is_parsed_once_then_read_as_parsed_from_the_cache(parses: list[str]) -> None:
    path = _model_file()
    first = JsonFiles().load_file(path)
    second = JsonFiles().load_file(path)
    assert len(parses) == 1
    assert json.dumps(second) == json.dumps(first)
    assert json.dumps(first) == json.dumps(JSONFileLoader().load_file(path))


def test_a_damaged_or_untrusted_entry_is_parsed_afresh(parses: list[str], tmp_path: Path) -> None:
    path = _model_file()
    expected = json.dumps(JsonFiles().load_file(path))
    [entry] = (tmp_path / "cache" / "annex-cdk" / "botocore").iterdir()
    assert entry.stat().st_mode & 0o777 == 0o600
    entry.write_bytes(entry.read_bytes()[:1000])  # cut short
    assert json.dumps(JsonFiles().load_file(path)) == expected
    assert len(parses) == 2
    entry.parent.chmod(0o777)  # others may write there now: not to be trusted
    assert json.dumps(JsonFiles().load_file(path)) == expected
    assert len(parses) == 3


def test_a_changed_file_is_parsed_afresh(parses: list[str], tmp_path: Path) -> None:
    model = tmp_path / "service-2.json"
    model.write_text('{"version": 1}')
    assert JsonFiles().load_file(str(tmp_path / "service-2")) == {"version": 1}
    model.write_text('{"version": 22}')  # another size, another entry
    assert JsonFiles().load_file(str(tmp_path / "service-2")) == {"version": 22}
    assert JsonFiles().load_file(str(tmp_path / "service-2")) == {"version": 22}
    assert len(parses) == 2


def test_known_services_answer_as_botocore_lists_them(tmp_path: Path) -> None:
    """KnownServices: botocore's own list, and `in` answered as that list would answer."""
    extra = tmp_path / "models"  # a search path of the user's (AWS_DATA_PATH), as botocore reads
    (extra / "mine" / "2020-01-01").mkdir(parents=True)
    (extra / "mine" / "2020-01-01" / "service-2.json").write_text("{}")
    (extra / "empty" / "2020-01-01").mkdir(parents=True)  # no file of the type: not a service
    (extra / "plain-file").write_text("")
    theirs = create_loader(str(extra))
    ours = create_loader(str(extra))
    ours.file_loader = JsonFiles()
    listed = theirs.list_available_services("service-2")
    known = session.KnownServices(ours, ours.list_available_services, "service-2")
    assert list(known) == listed and len(known) == len(listed) and known[0] == listed[0]
    for name in (
        "ec2",
        "cloudformation",
        "mine",
        "empty",
        "plain-file",
        "nothing",
        "",
        ".",
        "..",
        "ec2/2016-11-15",
        "../models/mine",
    ):
        assert (name in known) is (name in listed), name


def test_an_unknown_service_is_refused_as_botocore_refuses_it() -> None:
    from botocore.exceptions import UnknownServiceError

    target = AwsTarget("us-east-1", Credentials())
    with pytest.raises(UnknownServiceError) as caught:
        target.session.create_client("no-such-service", region_name="us-east-1")
    assert "ec2" in str(caught.value)  # the known services are named, as botocore names them
