"""Which AWS account, region, endpoint and credentials a command talks to, as boto3 clients."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from stat import S_ISREG
from typing import Any, overload

from annex_cdk.aws import model_cache
from annex_cdk.errors import CredentialsError, EndpointError, UsageError
from annex_cdk.text import BOM, BOM_HINT, bom_problem
from annex_stacks import names

# One client configuration for every AWS call. An endpoint that accepts and never answers must
# fail in seconds, not after botocore's default 60 s reads times its retries: the AWS APIs we
# call answer in well under a second (deployments are polled, never waited on in one request).
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10
MAX_ATTEMPTS = 3
QUICK_CONNECT_TIMEOUT_S = 3
QUICK_READ_TIMEOUT_S = 5
#: The longest a call can take before it fails: every attempt times out connecting or reading.
#: What to look at when the AWS profile named is not in the AWS config files.
PROFILE_HINT = "check --profile / AWS_PROFILE"
WORST_CALL_S = MAX_ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S)
#: Connections each client keeps: one client per service serves every thread of a run
#: (aws/parallel.py), and past its pool urllib3 drops connections with a logged warning.
MAX_POOL_CONNECTIONS = 50


@dataclass(frozen=True)
class Credentials:
    """What condor_annex will be told to use: key files or the instance profile."""

    access_key_file: Path | None = None
    secret_key_file: Path | None = None
    from_instance: bool = False

    @property
    def config_values(self) -> dict[str, str]:
        """ANNEX_DEFAULT_ACCESS_KEY_FILE / _SECRET_KEY_FILE as condor_annex -setup writes them."""
        if self.from_instance:
            return {
                names.KEY_ACCESS_KEY_FILE: names.FROM_INSTANCE,
                names.KEY_SECRET_KEY_FILE: names.FROM_INSTANCE,
            }
        if self.access_key_file and self.secret_key_file:
            return {
                names.KEY_ACCESS_KEY_FILE: str(self.access_key_file),
                names.KEY_SECRET_KEY_FILE: str(self.secret_key_file),
            }
        return {}


def resolve_credentials(
    *,
    condor_dir: Path | None,
    access_key_file: Path | None,
    secret_key_file: Path | None,
    from_instance: bool,
) -> Credentials:
    """condor_annex's choice: explicit files, else ~/.condor's key files, else the boto3 chain.

    condor_dir None: the AWS-side-only mode, where ~/.condor is not looked at."""
    if from_instance:
        if access_key_file or secret_key_file:
            raise UsageError("--from-instance cannot be combined with key files")
        return Credentials(from_instance=True)
    if bool(access_key_file) != bool(secret_key_file):
        raise UsageError("give both --access-key-file and --secret-key-file, or neither")
    if access_key_file and secret_key_file:
        for path in (access_key_file, secret_key_file):
            if not path.is_file():
                raise CredentialsError(f"key file {path} does not exist or is not a file")
        return Credentials(access_key_file.resolve(), secret_key_file.resolve())
    if condor_dir is None:
        return Credentials()
    public, private = condor_dir / names.PUBLIC_KEY_FILE, condor_dir / names.PRIVATE_KEY_FILE
    if public.is_file() and private.is_file():
        return Credentials(public, private)
    return Credentials()


# What condor_annex's two key files may hold (it trims whitespace around one token): an access
# key id is upper-case letters and digits (AKIA..., 16-128 characters, IAM's limits), a secret
# access key is printable ASCII without whitespace (40 characters for IAM user keys).
_KEY_ID_RE = re.compile(r"[A-Z0-9]{16,128}\Z")
_SECRET_RE = re.compile(r"[\x21-\x7e]{16,128}\Z")
#: Far more than any key file; a bigger file is not one and is not read whole.
_MAX_KEY_FILE = 1024


def _read_key(path: Path, *, secret: bool = False) -> str:
    """One key from a key file, checked so that nothing else reaches an HTTP header.

    Messages never quote the file's contents: a wrong file may well hold a secret (say both
    keys on two lines), and a message goes to a terminal or a CI log.
    """
    what = "secret access key" if secret else "access key id"
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_KEY_FILE + 1)
    except OSError as err:
        raise CredentialsError(f"cannot read key file {path}: {err.strerror or err}") from None
    if data.startswith(BOM.encode()):
        raise CredentialsError(bom_problem(f"key file {path}"), hint=BOM_HINT)
    tokens = data.split()
    if not tokens:
        raise CredentialsError(f"key file {path} is empty")
    hint = f"{path} must hold only the {what}, on one line"
    if len(data) > _MAX_KEY_FILE or len(tokens) != 1:
        raise CredentialsError(
            f"key file {path} holds more than one value; expected only the {what}", hint=hint
        )
    try:
        value = tokens[0].decode("ascii")
    except UnicodeDecodeError:
        raise CredentialsError(f"key file {path} holds non-ASCII bytes", hint=hint) from None
    if not (_SECRET_RE if secret else _KEY_ID_RE).match(value):
        shape = (
            "16-128 printable characters"
            if secret
            else "16-128 upper-case letters and digits (AKIA...)"
        )
        raise CredentialsError(
            f"key file {path} does not hold an AWS {what} ({shape}, {len(value)} found)",
            hint=hint,
        )
    if not secret and value.startswith(names.TEMPORARY_KEY_PREFIX):
        # As `credentials` refuses it: without its session token AWS rejects it at first use.
        raise CredentialsError(
            f"key file {path} holds a temporary access key id "
            f"({names.TEMPORARY_KEY_PREFIX}...), which works only with a session token that "
            "condor_annex's key files cannot hold",
            hint="use a long-term IAM user access key (AKIA...), or --from-instance on EC2",
        )
    return value


_loader_lock = threading.Lock()
_loader: Any = None


def _shared_loader(core: Any) -> Any:
    """One botocore data loader for every session of the run. The loader caches each service's
    API model (EC2's takes a quarter of a second to parse) and the endpoint data; each region's
    target has a session of its own, which loaded them all again (setup in three regions)."""
    global _loader
    with _loader_lock:
        if _loader is None:
            from botocore.loaders import create_loader

            _loader = create_loader(core.get_config_variable("data_path"))
            _loader.file_loader = JsonFiles()
            _loader.list_available_services = partial(
                KnownServices, _loader, _loader.list_available_services
            )
            _one_caller_at_a_time(_loader)
        return _loader


class KnownServices(Sequence[str]):
    """The loader's list of the services it has `type_name` data for, as botocore's
    `Loader.list_available_services` makes it, but what botocore asks of it when it loads a
    service's model, whether `name in` it, is answered for that one service: its directory in
    the search path holds an API version with that file. Making the list walks every service
    botocore knows (some 400 directories, a few thousand stat calls, twice a run), and
    is left until something iterates it (an unknown service's error message names them all)."""

    def __init__(self, loader: Any, walk: Callable[[str], list[str]], type_name: str) -> None:
        self._loader, self._walk, self._type_name = loader, walk, type_name
        self._listed: list[str] | None = None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or name in (".", "..") or os.sep in name:
            return name in self._all()  # as a directory listing would answer
        for path in self._loader.search_paths:
            service = os.path.join(path, name)
            if not os.path.isdir(service):
                continue
            for version in os.listdir(service):
                if self._loader.file_loader.exists(os.path.join(service, version, self._type_name)):
                    return True
        return False

    def _all(self) -> list[str]:
        if self._listed is None:
            self._listed = list(self._walk(self._type_name))
        return self._listed

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]


#: The loader's cached methods (botocore's @instance_cache).
_CACHED = (
    "list_available_services",
    "determine_latest_version",
    "list_api_versions",
    "load_service_model",
    "load_data_with_path",
)


def _one_caller_at_a_time(loader: Any) -> None:
    """The loader's caches are filled by one thread at a time: the regions of a run make their
    clients at once, and each thread that missed a cache computed it again (the list of every
    service botocore knows, walked on disk, and each API model: three times in three
    regions). The work is CPU under the GIL either way; the lock only keeps it from being done
    more than once. Reentrant: load_service_model calls the others."""
    lock = threading.RLock()

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return call

    for name in _CACHED:
        setattr(loader, name, locked(getattr(loader, name)))


def keyed_session(key_id: str, secret: str, token: str | None = None) -> Any:
    """A botocore session signing with these keys (an assumed role's), on the run's shared
    loader: a member account's clients parse no API model again."""
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", _shared_loader(core))
    core.set_credentials(key_id, secret, token)
    return core


class JsonFiles:
    """botocore's file loader (loaders.JSONFileLoader: `name.json`, else `name.json.gz`), with
    each JSON object read into a dict instead of an OrderedDict (a dict keeps the order too):
    the API models every client loads (EC2's is 4.5 MB) take about 40% less CPU to read.

    And each file is parsed once per install: what it parses to is kept under the user's
    cache (`model_cache`), which a later run reads in a third of the time."""

    def exists(self, file_path: str) -> bool:
        return any(os.path.isfile(file_path + ext) for ext, _ in _JSON_FILES)

    def load_file(self, file_path: str) -> Any:
        for ext, open_file in _JSON_FILES:
            path = file_path + ext
            try:
                stat = os.stat(path)
            except OSError:
                continue
            if not S_ISREG(stat.st_mode):
                continue  # as botocore's loader: a file or nothing
            if (kept := model_cache.load(path, stat)) is not None:
                return kept
            with open_file(path, "rb") as fp:
                data = json.loads(fp.read().decode("utf-8"))
            model_cache.keep(path, stat, data)
            return data
        return None


_JSON_FILES: tuple[tuple[str, Callable[[str, str], Any]], ...] = (
    (".json", open),
    (".json.gz", gzip.open),
)


@dataclass(frozen=True)
class AwsTarget:
    """A region, an optional endpoint (the emulator) and credentials: everything boto3 needs."""

    region: str
    credentials: Credentials
    profile: str | None = None
    endpoint_url: str | None = None
    # One client per (service, quick), made once: a client costs tens of milliseconds to make,
    # and the session that makes them is not thread-safe, so the lock guards both.
    _clients: dict[tuple[str, bool], MappedClient] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _lock: threading.RLock = field(
        default_factory=threading.RLock, init=False, repr=False, compare=False
    )
    # Its own lock: the caller's identity is asked while other threads make clients.
    _identity_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @cached_property
    def session(self) -> Any:
        """The botocore session every client of this target is made from.

        botocore's own, not boto3's: boto3 adds resources and S3 transfers, which annex-cdk
        does not use, and importing it (s3transfer with it) cost every run about 0.1 s of CPU.
        """
        import botocore.session
        from botocore.exceptions import ProfileNotFound

        core = botocore.session.Session(profile=self.profile)
        try:
            core.register_component("data_loader", _shared_loader(core))
        except ProfileNotFound:
            raise CredentialsError(
                f"AWS profile {self.profile!r} not found", hint=PROFILE_HINT
            ) from None
        core.set_config_variable("region", self.region)
        if self.credentials.from_instance:
            from botocore.credentials import (
                CredentialResolver,
                InstanceMetadataFetcher,
                InstanceMetadataProvider,
            )

            # Only the instance profile, as condor_annex's FROM INSTANCE: no env or profile.
            fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=2)
            core.register_component(
                "credential_provider",
                CredentialResolver([InstanceMetadataProvider(iam_role_fetcher=fetcher)]),
            )
        if self.credentials.access_key_file and self.credentials.secret_key_file:
            core.set_credentials(
                _read_key(self.credentials.access_key_file),
                _read_key(self.credentials.secret_key_file, secret=True),
            )
        return core

    def client(self, service: str, *, quick: bool = False) -> Any:
        """The client whose every call maps failures to one-line errors (see `call`), one per
        service shared by every caller and thread of this target.

        `quick` ones make one short attempt (pre-flight: fail in seconds).
        """
        made = self._clients.get((service, quick))  # made already: no wait for the lock
        if made is not None:
            return made
        with self._lock:
            made = self._clients.get((service, quick))
            if made is None:
                made = self._clients[(service, quick)] = self._new_client(service, quick=quick)
            return made

    def prepare_clients(self, services: Iterable[str]) -> None:
        """Make these services' clients now (each loads its API model, up to half a second for
        EC2's), e.g. in a thread while the local files are read, so no AWS call waits for one."""
        for service in services:
            self.client(service)

    def _new_client(self, service: str, *, quick: bool) -> MappedClient:
        from botocore.config import Config
        from botocore.exceptions import ProfileNotFound

        config = Config(
            connect_timeout=QUICK_CONNECT_TIMEOUT_S if quick else CONNECT_TIMEOUT_S,
            read_timeout=QUICK_READ_TIMEOUT_S if quick else READ_TIMEOUT_S,
            retries={"max_attempts": 1 if quick else MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )
        try:
            client = self.session.create_client(
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
        except ProfileNotFound:
            raise CredentialsError(
                f"AWS profile {self.profile!r} not found", hint=PROFILE_HINT
            ) from None
        if record := os.environ.get("ANNEX_CDK_RECORD_CALLS"):
            # tests/e2e/test_policy.py: every call as service:Operation, so that `annex-cdk
            # policy` can be checked against it. One short O_APPEND write per call: the
            # engine's threads and successive runs share the file.
            def record_call(model: Any, **_: Any) -> None:
                with open(record, "a", encoding="ascii") as out:
                    out.write(f"{service}:{model.name}\n")

            client.meta.events.register("before-call", record_call)
        return MappedClient(client, self)

    def access_keys(self) -> tuple[str, str]:
        """The key id and secret key the session signs with (the rehearsal hands them to the
        deployed lease function's code, as Lambda does)."""
        frozen = self.session.get_credentials().get_frozen_credentials()
        return str(frozen.access_key), str(frozen.secret_key)

    def account_id(self) -> str:
        """Who we are; also the first call, so bad credentials or endpoints surface here."""
        return str(self.identity["Account"])

    def caller_arn(self) -> str:
        return str(self.identity["Arn"])

    @property
    def identity(self) -> dict[str, Any]:
        """STS GetCallerIdentity, asked once per run (pre-flight, account, IAM principal),
        whichever thread asks first."""
        with self._identity_lock:
            if "_identity" not in self.__dict__:
                self.__dict__["_identity"] = self._ask_identity()
            identity: dict[str, Any] = self.__dict__["_identity"]
            return identity

    def _ask_identity(self) -> dict[str, Any]:
        # With an endpoint too: an emulator or proxy serves AWS's regions, and a typo there
        # would otherwise record settings under a region nothing else will look in.
        known = set()
        for partition in ("aws", "aws-cn", "aws-us-gov"):
            known.update(self.session.get_available_regions("cloudformation", partition))
        if known and self.region not in known:
            raise UsageError(
                f"{self.region!r} is not a region AWS CloudFormation is offered in",
                hint="pass --region with a region such as us-east-1",
            )
        return self.client("sts", quick=True).get_caller_identity()  # type: ignore[no-any-return]  # boto3 ships no types; STS answers a dict


class MappedClient:
    """A boto3 client whose operations, paginators and waiters all go through `call`.

    Wrapping the client rather than each call site means no call can bypass the mapping (the
    lock's PutParameter once did, and a stalled endpoint became `unexpected error`). Service
    exceptions (`client.exceptions.X`) pass through unchanged for callers to catch.
    """

    def __init__(self, client: Any, target: AwsTarget) -> None:
        self._client = client
        self._target = target

    @property
    def meta(self) -> Any:
        return self._client.meta

    @property
    def exceptions(self) -> Any:
        return self._client.exceptions

    def get_paginator(self, operation: str) -> _MappedPaginator:
        return _MappedPaginator(self._client.get_paginator(operation), self._target)

    def get_waiter(self, name: str) -> Any:
        waiter = self._client.get_waiter(name)
        target = self._target

        class _Waiter:
            def wait(self, **kwargs: Any) -> None:
                call(lambda: waiter.wait(**kwargs), target)

        return _Waiter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        target = self._target

        def mapped(*args: Any, **kwargs: Any) -> Any:
            return call(lambda: attr(*args, **kwargs), target)

        mapped.__name__ = name
        return mapped


class _MappedPaginator:
    def __init__(self, paginator: Any, target: AwsTarget) -> None:
        self._paginator = paginator
        self._target = target

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        pages = iter(self._paginator.paginate(**kwargs))
        while True:
            page = call(lambda: next(pages, None), self._target)
            if page is None:
                return
            yield page


_NOT_AWS_HINT = "check --endpoint-url / AWS_ENDPOINT_URL: scheme://host[:port] of an AWS endpoint"


def call(fn: Any, target: AwsTarget) -> Any:
    """Run an AWS call, turning credential and connection failures into one-line errors."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
        SSOError,
        TokenRetrievalError,
    )
    from botocore.parsers import ResponseParserError

    where = target.endpoint_url or f"AWS in {target.region}"
    try:
        return fn()
    except (NoCredentialsError, PartialCredentialsError):
        raise CredentialsError(
            "no AWS credentials found",
            hint="pass --access-key-file/--secret-key-file, --profile or --from-instance",
        ) from None
    except (TokenRetrievalError, SSOError):
        # SSOTokenLoadError, UnauthorizedSSOTokenError, ...: the SSO session is missing or over.
        raise CredentialsError(
            "not logged in to AWS SSO (no valid SSO token)",
            hint="run `aws sso login`" + (f" --profile {target.profile}" if target.profile else ""),
        ) from None
    except ReadTimeoutError:
        raise EndpointError(
            f"{where} accepted the connection but did not answer in time",
            hint="check --endpoint-url / AWS_ENDPOINT_URL and the network",
        ) from None
    except (ConnectionError, ConnectionClosedError):
        # Never the exception's text: some of botocore's connection messages quote headers.
        raise EndpointError(
            f"cannot reach {where}",
            hint="check --endpoint-url / AWS_ENDPOINT_URL and the network",
        ) from None
    except ResponseParserError:
        # An HTML page or other non-AWS reply: a proxy, a web server, or an emulator's URL
        # with a path. Never its text: it is whatever that server chose to send.
        raise EndpointError(
            f"{where} answered with something that is not an AWS response",
            hint=_NOT_AWS_HINT,
        ) from None
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if not code:  # an error page without AWS's error document: not an AWS endpoint
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            raise EndpointError(
                f"{where} answered with something that is not an AWS response (HTTP {status})",
                hint=_NOT_AWS_HINT,
            ) from None
        if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
            raise CredentialsError(
                "the AWS credentials have expired", hint="refresh them (e.g. `aws sso login`)"
            ) from None
        if code in {
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "UnrecognizedClientException",
            "AuthFailure",
        }:
            raise CredentialsError(f"AWS rejected the credentials ({code})") from None
        raise


def long_term_key(profile: str | None) -> tuple[str, str, str]:
    """The current AWS identity's key id, secret key and where they came from.

    boto3's chain (environment, profile, SSO, ...) finds them; a CredentialsError unless they
    are a long-term key, since condor_annex's key files can't hold a session token. The
    caller checks the pair (condor.key_files.validate_pair) and keeps the secret in a Secret.
    """
    import botocore.session
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    where = f"AWS profile {profile!r}" if profile else "the default AWS credentials"
    try:
        credentials = botocore.session.Session(profile=profile).get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
    except ProfileNotFound:
        raise CredentialsError(f"AWS profile {profile!r} not found", hint=PROFILE_HINT) from None
    except (BotoCoreError, ValueError) as err:
        # A provider's complaint (a bad config value, say); botocore's messages name files,
        # settings and providers, never key material.
        raise CredentialsError(f"cannot get {where}: {err}") from None
    if frozen is None or not frozen.access_key:
        raise CredentialsError(
            f"no AWS credentials found ({where})",
            hint="pass --profile, or pipe the two keys with --from-stdin",
        )
    if frozen.token:
        method = getattr(credentials, "method", None) or "unknown"
        raise CredentialsError(
            f"{where} are temporary (they come with a session token; source: {method}), and "
            "condor_annex's key files cannot hold a session token",
            hint="use a long-term IAM user access key (--profile or --from-stdin), "
            "or --from-instance on an EC2 submit host",
        )
    return frozen.access_key, frozen.secret_key, where
