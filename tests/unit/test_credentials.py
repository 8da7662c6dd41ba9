"""`annex-cdk credentials`: condor_annex's key files, their modes, and secrets kept secret."""

from __future__ import annotations

import json
import os
import pickle
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from jsonschema import validate
from typer.testing import CliRunner

from annex_cdk.aws.session import _read_key, resolve_credentials
from annex_cdk.commands.condor import register
from annex_cdk.condor import key_files as creds
from annex_cdk.condor.key_files import KeyPair, Secret
from annex_cdk.errors import CredentialsError, LocalFilesError, UsageError
from annex_cdk.ops import check as checks
from annex_cdk.ops.credentials import from_profile
from annex_stacks import names
from tests import json_schemas

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OTHER_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"


def leaked(text: str, *secrets: str) -> list[str]:
    """Every 4-character piece of a secret found in ``text`` (a masked secret, its first and
    last four characters, leaks too); pieces that are also the key id's are not the secret's."""
    public = {KEY_ID[i : i + 4] for i in range(len(KEY_ID) - 3)}
    pieces = {s[i : i + 4] for s in secrets for i in range(len(s) - 3)} - public
    return sorted(p for p in pieces if p in text)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def pair(secret: str = SECRET, key_id: str = KEY_ID) -> KeyPair:
    return creds.validate_pair(key_id, Secret(secret), source="test")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scratch HOME and an AWS environment that can reach nothing real."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    old = os.umask(0o022)
    try:
        yield home
    finally:
        os.umask(old)


def files(home: Path) -> tuple[Path, Path]:
    condor = home / names.CONDOR_USER_DIR
    return condor / names.PUBLIC_KEY_FILE, condor / names.PRIVATE_KEY_FILE


# --- Secret -------------------------------------------------------------------------------------


def test_secret_never_shows_itself() -> None:
    secret = Secret(SECRET)
    assert leaked(f"{secret!r} {secret} {pair()!r}", SECRET) == []
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert secret.reveal() == SECRET and secret.matches(SECRET) and not secret.matches("x")


# --- Reading the key ----------------------------------------------------------------------------


def test_from_text_two_lines_and_csv() -> None:
    got = creds.from_text(f"  {KEY_ID}\n{SECRET}  \n\n")
    assert (got.access_key_id, got.secret.reveal()) == (KEY_ID, SECRET)
    csv = f"Access key ID,Secret access key\r\n{KEY_ID},{SECRET}\r\n"
    got = creds.from_text(csv)
    assert (got.access_key_id, got.secret.reveal()) == (KEY_ID, SECRET)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        (f"{KEY_ID}\n", UsageError, "two lines"),
        (f"{KEY_ID}\n{SECRET}\nFwoGZXIvYXdzEtoken\n", UsageError, "two lines"),
        (f"{SECRET}\n{KEY_ID}\n", UsageError, "swapped"),
        (f"ASIAIOSFODNN7EXAMPLE\n{SECRET}\n", CredentialsError, "temporary"),
        (f"AKIA IOSFODNN7\n{SECRET}\n", CredentialsError, "not an AWS access key id"),
        (f"{KEY_ID}\nwJalrXUtnFEMI K7MDENG\n", CredentialsError, "whitespace"),
        (f"{KEY_ID}\nwJalrXUtnFEMI\u00e9K7MDENG\n", CredentialsError, "non-ASCII"),
    ],
)
def test_from_text_refuses(text: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        creds.from_text(text)
    assert leaked(f"{info.value} {info.value.hint}", SECRET) == []  # type: ignore[attr-defined]


def test_from_profile_long_term_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    got = from_profile(None)
    assert (got.access_key_id, got.secret.reveal()) == (KEY_ID, SECRET)


def test_from_profile_named(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "no-aws-credentials"
    shared.write_text(f"[annex]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    assert from_profile("annex").access_key_id == KEY_ID
    with pytest.raises(CredentialsError, match="not found"):
        from_profile("nope")


def test_from_profile_refuses_temporary_credentials(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN")
    with pytest.raises(CredentialsError, match="session token") as info:
        from_profile(None)
    assert "--from-instance" in (info.value.hint or "")
    assert SECRET not in str(info.value) and "EXAMPLETOKEN" not in str(info.value)


def test_from_profile_without_credentials(home: Path) -> None:
    with pytest.raises(CredentialsError, match="no AWS credentials"):
        from_profile(None)


# --- Writing the files --------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_creates_private_files_in_private_dir(home: Path, umask: int) -> None:
    public, private = files(home)
    os.umask(umask)
    report = creds.write_key_files(pair(), public, private)
    assert public.read_text() == f"{KEY_ID}\n" and private.read_text() == f"{SECRET}\n"
    assert mode_of(public) == mode_of(private) == 0o600
    assert mode_of(public.parent) == 0o700
    assert report.directory_created and report.changed
    assert (report.access_key_file.action, report.secret_key_file.action) == ("created", "created")
    # What annex-cdk and condor_annex then read: the same key, and a secret file that passes
    # condor_annex -check-setup's owner/mode check.
    assert (_read_key(public), _read_key(private, secret=True)) == (KEY_ID, SECRET)
    assert (
        resolve_credentials(
            condor_dir=public.parent,
            access_key_file=None,
            secret_key_file=None,
            from_instance=False,
        ).config_values
        == report.config_values
    )
    result = checks.CheckReport("us-east-1")
    checks._local_checks(result, {**report.config_values, names.KEY_SECRET_KEY_FILE: str(private)})
    assert [c.name for c in result.checks if not c.ok and c.name == "secret-key-file"] == []


def test_same_key_again_is_a_no_op(home: Path) -> None:
    public, private = files(home)
    creds.write_key_files(pair(), public, private)
    before = [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in (public, private)]
    report = creds.write_key_files(pair(), public, private)
    assert not report.changed
    assert (report.access_key_file.action, report.secret_key_file.action) == ("unchanged",) * 2
    after = [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in (public, private)]
    assert after == before
    assert sorted(x.name for x in public.parent.iterdir()) == sorted([public.name, private.name])


@pytest.mark.parametrize("which", ["public", "private"])
def test_different_content_is_never_overwritten(home: Path, which: str) -> None:
    public, private = files(home)
    creds.write_key_files(pair(), public, private)
    before = (public.read_bytes(), private.read_bytes())
    other = pair(OTHER_SECRET) if which == "private" else pair(key_id="AKIAIOSFODNN7EXAMPLF")
    with pytest.raises(LocalFilesError, match="refusing to overwrite") as info:
        creds.write_key_files(other, public, private)
    assert (public.read_bytes(), private.read_bytes()) == before  # neither file changed
    text = f"{info.value} {info.value.hint}"
    assert leaked(text, SECRET, OTHER_SECRET) == []


def test_only_the_secret_differs_leaves_both_files(home: Path) -> None:
    public, private = files(home)
    public.parent.mkdir(mode=0o700)
    public.write_text("")  # would be filled, but the pair is refused as a whole
    private.write_text("some other secret\n")
    with pytest.raises(LocalFilesError):
        creds.write_key_files(pair(), public, private)
    assert public.read_text() == "" and private.read_text() == "some other secret\n"


def test_guides_touched_empty_files_are_filled_and_narrowed(home: Path) -> None:
    # The guide: mkdir ~/.condor; touch publicKeyFile privateKeyFile; chmod 600 (forgotten here).
    public, private = files(home)
    public.parent.mkdir(mode=0o755)
    os.chmod(public.parent, 0o755)
    for path in (public, private):
        path.write_text("")
        os.chmod(path, 0o644)
    report = creds.write_key_files(pair(), public, private)
    assert (report.access_key_file.action, report.secret_key_file.action) == ("filled", "filled")
    assert report.secret_key_file.narrowed_from == 0o644
    assert mode_of(public) == mode_of(private) == 0o600
    assert private.read_text() == f"{SECRET}\n"
    assert mode_of(public.parent) == 0o755  # the user's directory keeps its mode
    assert not report.directory_created


def test_permissions_are_never_widened(home: Path) -> None:
    public, private = files(home)
    public.parent.mkdir(mode=0o700)
    public.write_text("")
    private.write_text(f"{SECRET}\n")
    os.chmod(public, 0o400)
    os.chmod(private, 0o400)
    report = creds.write_key_files(pair(), public, private)
    assert report.access_key_file.action == "filled"
    assert mode_of(public) == 0o400 and mode_of(private) == 0o400
    assert public.read_text() == f"{KEY_ID}\n"


def test_same_content_with_open_mode_is_narrowed(home: Path) -> None:
    public, private = files(home)
    creds.write_key_files(pair(), public, private)
    os.chmod(private, 0o664)
    report = creds.write_key_files(pair(), public, private)
    assert report.secret_key_file.action == "unchanged"
    assert report.secret_key_file.narrowed_from == 0o664 and report.changed
    assert mode_of(private) == 0o600


def test_unreadable_empty_file_is_refused(home: Path) -> None:
    public, private = files(home)
    public.parent.mkdir(mode=0o700)
    public.write_text("")
    os.chmod(public, 0o200)
    with pytest.raises(LocalFilesError, match="not readable"):
        creds.write_key_files(pair(), public, private)
    assert not private.exists()


def test_someone_elses_file_is_refused(home: Path, tmp_path: Path) -> None:
    public, private = files(home)
    public.parent.mkdir(mode=0o700)
    if os.geteuid() == 0:  # root gives a file away
        private.write_text("")
        os.chown(private, 54321, 54321)
        owner = 54321
    else:  # an ordinary user cannot: a symlink to root's file is someone else's file too
        private.symlink_to("/etc/passwd")
        owner = 0
    with pytest.raises(LocalFilesError, match=f"owned by uid {owner}"):
        creds.write_key_files(pair(), public, private)
    assert not public.exists()


def test_dangling_symlink_is_refused(home: Path, tmp_path: Path) -> None:
    public, private = files(home)
    public.parent.mkdir(mode=0o700)
    private.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LocalFilesError, match="dangling symlink"):
        creds.write_key_files(pair(), public, private)
    assert not (tmp_path / "elsewhere").exists()


def test_same_path_twice_is_refused(home: Path) -> None:
    public, _ = files(home)
    with pytest.raises(UsageError, match="different files"):
        creds.write_key_files(pair(), public, public)


def test_from_instance_writes_nothing(home: Path) -> None:
    public, private = files(home)
    report = creds.from_instance_report(public, private)
    assert report.config_values == {
        names.KEY_ACCESS_KEY_FILE: names.FROM_INSTANCE,
        names.KEY_SECRET_KEY_FILE: names.FROM_INSTANCE,
    }
    assert not public.parent.exists() and report.warnings == ()


# --- The command --------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


def test_cli_from_stdin_json_never_prints_the_secret(home: Path, cli: typer.Typer) -> None:
    result = CliRunner().invoke(
        cli, ["credentials", "--from-stdin", "--json"], input=f"{KEY_ID}\n{SECRET}\n"
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert leaked(result.stdout + result.stderr, SECRET) == []
    assert KEY_ID not in result.stdout  # shown masked only
    report = json.loads(result.stdout)
    validate(report, json_schemas.CREDENTIALS)
    _, private = files(home)
    assert report["access_key_id"] == "AKIA...MPLE"
    assert report["secret_key_file"] == {
        "path": str(private),
        "action": "created",
        "mode": "0600",
        "narrowed_from": None,
    }
    assert report["config_values"][names.KEY_SECRET_KEY_FILE] == str(private)
    assert private.read_text() == f"{SECRET}\n"

    text = CliRunner().invoke(cli, ["credentials", "--from-stdin"], input=f"{KEY_ID}\n{SECRET}\n")
    assert text.exit_code == 0
    assert f"{private}: unchanged (0600)" in text.stdout
    assert leaked(text.output, SECRET) == []


def test_cli_from_profile(home: Path, cli: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    result = CliRunner().invoke(cli, ["credentials"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "created (0600)" in result.stdout and leaked(result.output, SECRET) == []
    assert files(home)[1].read_text() == f"{SECRET}\n"


def test_cli_refusal_keeps_the_secret_out_of_output(home: Path, cli: typer.Typer) -> None:
    CliRunner().invoke(cli, ["credentials", "--from-stdin"], input=f"{KEY_ID}\n{SECRET}\n")
    result = CliRunner().invoke(
        cli, ["credentials", "--from-stdin"], input=f"{KEY_ID}\n{OTHER_SECRET}\n"
    )
    assert isinstance(result.exception, LocalFilesError)
    assert leaked(f"{result.output} {result.exception}", SECRET, OTHER_SECRET) == []


def test_cli_from_instance(home: Path, cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["credentials", "--from-instance", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    validate(report, json_schemas.CREDENTIALS)
    assert report["config_values"][names.KEY_ACCESS_KEY_FILE] == "FROM INSTANCE"
    both = CliRunner().invoke(cli, ["credentials", "--from-instance", "--from-stdin"])
    assert isinstance(both.exception, UsageError)
    assert not files(home)[0].parent.exists()


@pytest.mark.hostile
@pytest.mark.parametrize(
    "content",
    [
        f"{KEY_ID}\n{SECRET}\n",  # both keys in the access key file
        f"{KEY_ID} {SECRET}\n",
        f"aws_secret_access_key = {SECRET}\n",
        f"{SECRET}\u00e9\n",
    ],
)
def test_a_key_file_with_more_than_the_key_is_refused_without_quoting_it(
    tmp_path: Path, content: str
) -> None:
    """Whatever a wrong key file holds never reaches an HTTP header or a message."""
    path = tmp_path / names.PUBLIC_KEY_FILE
    path.write_text(content)
    for secret in (False, True):
        with pytest.raises(CredentialsError) as caught:
            _read_key(path, secret=secret)
        shown = f"{caught.value} {caught.value.hint or ''}"
        assert str(path) in shown
        assert SECRET not in shown and KEY_ID not in shown and SECRET[:8] not in shown


@pytest.mark.hostile
@pytest.mark.parametrize("content", ["testing\n", "AKIA\n", "akiaiosfodnn7example\n"])
def test_an_access_key_file_must_hold_an_access_key_id(tmp_path: Path, content: str) -> None:
    path = tmp_path / names.PUBLIC_KEY_FILE
    path.write_text(content)
    with pytest.raises(CredentialsError, match="does not hold an AWS access key id"):
        _read_key(path)


@pytest.mark.hostile
def test_a_byte_order_mark_before_the_key_is_named(home: Path, cli: typer.Typer) -> None:
    """Notepad's UTF-8 BOM: invisible, so the message says what it is (stdin and key files)."""
    result = CliRunner().invoke(
        cli, ["credentials", "--from-stdin"], input=f"\ufeff{KEY_ID}\n{SECRET}\n"
    )
    assert isinstance(result.exception, CredentialsError)
    assert "byte order mark" in str(result.exception)
    assert "not an AWS access key id" not in str(result.exception)
    assert not any(files(home)[1].parent.glob("*"))  # nothing written
    key_file = home / "key-id"
    key_file.write_bytes(b"\xef\xbb\xbf" + KEY_ID.encode() + b"\n")
    with pytest.raises(CredentialsError, match=f"key file {key_file} starts with a UTF-8 byte"):
        _read_key(key_file)


@pytest.mark.hostile
def test_a_temporary_key_id_in_a_key_file_is_refused_as_credentials_refuses_it(
    home: Path,
) -> None:
    """An ASIA id works only with its session token, which a key file cannot hold: refused
    as `credentials` refuses it, before any AWS call (the first call reads the files)."""
    temporary = "ASIA" + KEY_ID[4:]
    with pytest.raises(CredentialsError, match="temporary"):
        creds.validate_pair(temporary, Secret(SECRET), source="test")  # what credentials does
    key_file, secret_file = home / "id", home / "secret"
    key_file.write_text(f"{temporary}\n")
    secret_file.write_text(f"{SECRET}\n")
    with pytest.raises(CredentialsError, match=r"temporary access key id \(ASIA\.\.\.\)"):
        _read_key(key_file)
    assert _read_key(secret_file, secret=True) == SECRET  # the control: the secret is fine
