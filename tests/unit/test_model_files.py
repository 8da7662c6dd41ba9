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
