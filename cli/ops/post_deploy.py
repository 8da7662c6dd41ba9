"""The post-deploy step: the PEM and annex-cdk's block in user_config, then what HTCondor reads."""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annex_cdk import console
from annex_cdk.aws.session import Credentials
from annex_cdk.condor import user_config
from annex_cdk.condor.files import (
    check_writable,
    decode_exact,
    directory_locked,
    ensure_private_dir,
    read_optional,
    write_secret_new,
)
from annex_cdk.condor.parser import validate_syntax
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.errors import LocalFilesError
from annex_cdk.ops.credentials import condor_annex_credentials_fix
from annex_stacks import names
from annex_stacks.stack_specs import output_for_key

_KEY_FILE_KEYS = (names.KEY_ACCESS_KEY_FILE, names.KEY_SECRET_KEY_FILE)


def _no_dangling_link(path: Path, what: str) -> None:
    if path.is_symlink() and not path.exists():
        raise LocalFilesError(
            f"{what} {path} is a symlink to {os.readlink(path)}, which does not exist",
            hint=f"remove the link ({path}) or create what it points to, then re-run",
        )


def _check_pem_path(pem: Path) -> None:
    """The PEM path must be free for a new file, or hold a PEM annex-cdk can compare."""
    _no_dangling_link(pem, "the PEM path")
    if pem.is_dir():
        raise LocalFilesError(
            f"{pem} is a directory, where the key pair's PEM goes",
            hint=f"move {pem} away, or pass --key-name NAME for another key, then re-run",
        )
    if pem.exists():
        try:
            pem.read_bytes().decode("ascii")
        except (OSError, UnicodeDecodeError):
            raise LocalFilesError(
                f"{pem} is not a readable PEM file (binary or unreadable)",
                hint=f"move {pem} away, or pass --key-name NAME for another key, then re-run",
            ) from None


def preflight(
    paths: LocalPaths,
    region: str,
    key_name: str | None,
    *,
    secret_key_file: Path | None = None,
) -> None:
    """Before any AWS change: can we write what setup (or destroy) will write, and is
    user_config sane? Every fault names the file and the fix; warnings for loose modes."""
    if not paths.home.is_dir():
        # condor_annex's files live in the user's home: never a home made up on the way.
        raise LocalFilesError(
            f"HOME {paths.home} is not an existing directory; annex-cdk writes "
            f"{names.CONDOR_USER_DIR} there",
            hint="set HOME to your home directory",
        )
    _no_dangling_link(paths.condor_dir, "the HTCondor user directory")
    _no_dangling_link(paths.user_config, "the user config")
    targets = [paths.user_config]
    if key_name:
        pem = paths.pem(region, key_name)
        _check_pem_path(pem)
        targets.append(pem)
    for target in targets:
        check_writable(target)
    if paths.condor_dir.is_dir():
        mode = stat.S_IMODE(os.stat(paths.condor_dir).st_mode)
        if mode & stat.S_IWOTH or mode & stat.S_IWGRP:
            console.warn(
                f"{paths.condor_dir} is writable by others (mode {mode:04o}): they could "
                f"replace your key files or config; consider chmod 700 {paths.condor_dir}"
            )
    if secret_key_file is not None and secret_key_file.is_file():
        mode = stat.S_IMODE(os.stat(secret_key_file).st_mode)
        if mode & 0o077:
            console.warn(
                f"the secret key file {secret_key_file} is readable by others (mode "
                f"{mode:04o}), and condor_annex -check-setup refuses it; chmod 600 "
                f"{secret_key_file}"
            )
    if paths.user_config.exists():
        try:
            text = decode_exact(paths.user_config.read_bytes())
            user_config.parse(text, source=str(paths.user_config))
            validate_syntax(text, source_name=str(paths.user_config))
        except OSError as err:
            real = paths.user_config.resolve()  # a symlink's target is the file to fix
            raise LocalFilesError(
                f"cannot read {paths.user_config}: {err.strerror or err}",
                hint=f"chmod u+r {real}, then re-run",
            ) from None
        except ConfigError as err:
            raise LocalFilesError(
                str(err), hint=f"fix {paths.user_config} so that HTCondor can read it, then re-run"
            ) from None


def config_values(
    outputs: Mapping[str, Mapping[str, str]], credentials: Credentials, key_name: str | None
) -> dict[str, str]:
    """The ANNEX_DEFAULT_* values condor_annex -setup would write, from the stack outputs."""
    merged: dict[str, str] = {}
    for stack_outputs in outputs.values():
        merged.update(stack_outputs)
    values = {key: merged[out] for key, out in output_for_key().items() if merged.get(out)}
    values.update(credentials.config_values)
    if key_name:
        values[names.KEY_KEY_NAME] = key_name
    return values


@dataclass
class PostDeployReport:
    pem: Path | None = None
    pem_action: str = "none"
    config: user_config.WriteResult | None = None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "pem": str(self.pem) if self.pem else None,
            "pem_action": self.pem_action,
            "user_config": str(cfg.path) if cfg else None,
            "user_config_action": cfg.action if cfg else None,
            "backup": str(cfg.backup) if cfg and cfg.backup else None,
            "condor_annex_blocks": [
                {"first_line": b.span.first_line, "last_line": b.span.last_line}
                for b in (cfg.annex_blocks if cfg else ())
            ],
            "problems": list(self.problems),
        }


def pem_material(private_key: str) -> bytes:
    """The PEM file's bytes: the key as AWS keeps it, ending in a newline."""
    return (private_key if private_key.endswith("\n") else private_key + "\n").encode()


def write_pem(paths: LocalPaths, region: str, key_name: str, private_key: str) -> tuple[Path, str]:
    """Write the key pair's PEM once; an existing file is never overwritten."""
    pem = paths.pem(region, key_name)
    material = pem_material(private_key)
    if pem.exists():
        try:
            same = pem.read_bytes() == material
        except OSError:
            same = False
        return pem, "unchanged" if same else "kept-different"
    ensure_private_dir(pem.parent)
    write_secret_new(pem, material)
    return pem, "created"


_REGION_LINE = re.compile(rf"^\s*{names.KEY_REGION}\s*[=:]", re.MULTILINE)


@dataclass(frozen=True)
class RegionVerdict:
    """_region_undefined's answer for user_config as it was read ahead of the write: taken
    when the text without annex-cdk's block (`others`) is still the same."""

    others: str
    undefined: bool


def region_verdict(paths: LocalPaths, region: str) -> RegionVerdict | None:
    """_region_undefined for user_config as it is now, ahead of post_deploy (HTCondor's parser
    runs while AWS is asked); None when it cannot be read (post_deploy says why)."""
    try:
        current = decode_exact(read_optional(paths.user_config) or b"")
        others = user_config.remove_block(current, region)
        return RegionVerdict(others, _region_undefined(paths, region, others))
    except (OSError, ConfigError, LocalFilesError):
        return None


def _region_undefined(paths: LocalPaths, region: str, others: str) -> bool:
    """Whether ANNEX_DEFAULT_AWS_REGION is set by none of the user's config but our block."""
    key = names.KEY_REGION
    # Two parses, each an HTCondor process of its own: at once.
    with ThreadPoolExecutor(max_workers=1) as pool:
        builtin = pool.submit(paths.effective, [key], region, text="")
        value = paths.effective([key], region, text=others)[key]
        if value is None:
            return True
        return value == builtin.result()[key] and not _REGION_LINE.search(others)


def set_aside_pem(paths: LocalPaths, region: str, key_name: str) -> Path | None:
    """Rename the PEM of a key pair that is gone (and being re-created) to a free `.old` name.

    Its bytes are kept; the new key pair's PEM can then be written in its place.
    """
    pem = paths.pem(region, key_name)
    if not pem.is_file():
        return None
    aside = pem.with_name(pem.name + ".old")
    n = 1
    while aside.exists():
        n += 1
        aside = pem.with_name(f"{pem.name}.old{n}")
    pem.rename(aside)
    return aside


@dataclass(frozen=True)
class _Ask:
    """One region's block as post_deploy asks for it; what it holds depends on the file."""

    region: str
    values: dict[str, str]
    keep_key_files: bool  # no key-file flags: keep the key files the block names
    default_region: str | None
    pem_comment: Path | None
    retire_annex_blocks: bool
    early: RegionVerdict | None = None  # region_verdict, read ahead


@dataclass(frozen=True)
class _Written:
    config: user_config.WriteResult
    problems: list[str]


def _write_blocks(paths: LocalPaths, asks: Sequence[_Ask]) -> list[_Written]:
    """The regions' blocks in user_config, in one write under the local lock (setups and
    write-configs of other regions at once each keep their block), then what HTCondor reads
    for each region, in one run of its parser."""
    with directory_locked(paths.condor_dir):
        try:
            current = decode_exact(read_optional(paths.user_config) or b"")
            wanted = [_block(paths, current, ask) for ask in asks]
            retire = any(ask.retire_annex_blocks for ask in asks)  # one flag for the whole run
            results = user_config.write_region_blocks(
                paths.user_config, wanted, retire_annex_blocks=retire
            )
            expected = {
                block.region: {
                    **block.values,
                    **({names.KEY_REGION: block.region} if block.set_region else {}),
                }
                for block in wanted
            }
            problems = user_config.check_effective_by_region(
                paths.user_config, expected, base_config=paths.base_config()
            )
        except ConfigError as err:
            raise LocalFilesError(str(err)) from None
    return [_Written(result, problems[result.region]) for result in results]


def _block(paths: LocalPaths, current: str, ask: _Ask) -> user_config.RegionBlock:
    values = dict(ask.values)
    if ask.keep_key_files:
        # A re-run without key-file flags keeps the key files the block names.
        recorded = user_config.block_values(current, ask.region)
        values.update({k: recorded[k] for k in _KEY_FILE_KEYS if k in recorded})
    if not all(k in values for k in _KEY_FILE_KEYS):
        console.warn(
            "condor_annex cannot read profile, SSO or environment credentials (only key "
            f"files or FROM INSTANCE), so {names.KEY_ACCESS_KEY_FILE} is not set. Run: "
            + condor_annex_credentials_fix(paths.condor_dir)
        )
    # ANNEX_DEFAULT_AWS_REGION is written only when nothing but our own block defines it.
    # HTCondor's own default (us-east-1) counts as undefined: otherwise a setup in
    # another region would leave condor_annex, check-setup and destroy looking there.
    others = user_config.remove_block(current, ask.region)
    if ask.default_region is not None:
        set_region = ask.region == ask.default_region
    elif ask.early is not None and ask.early.others == others:
        set_region = ask.early.undefined
    else:
        set_region = _region_undefined(paths, ask.region, others)
    return user_config.RegionBlock(ask.region, values, set_region, ask.pem_comment)


class LocalWrites:
    """The user_config blocks of the regions of one run, written together.

    A region that has deployed says it is coming (`coming`), then asks for its block
    (`write`). The asking thread that finds no write under way and every coming region asking
    writes all the blocks asked for, in the order of the run's regions: one write, HTCondor's
    parser run twice (the new text, then every region's values), where a write per region
    ran it twice per region, one region after another under the lock (each run a Python
    process of its own). A region still deploying is not waited for: its block goes into a
    later write. A region that ends without asking leaves (`leave`).
    """

    def __init__(self, regions: Sequence[str]) -> None:
        self.regions = tuple(regions)
        self._coming: set[str] = set()
        self._asked: dict[str, _Ask] = {}
        self._done: dict[str, _Written | BaseException] = {}
        self._writing = False
        self._cond = threading.Condition()

    def coming(self, region: str) -> None:
        with self._cond:
            self._coming.add(region)

    def leave(self, region: str) -> None:
        with self._cond:
            self._coming.discard(region)
            self._cond.notify_all()

    def write(self, paths: LocalPaths, ask: _Ask) -> _Written:
        with self._cond:
            self._coming.add(ask.region)
            self._asked[ask.region] = ask
            self._cond.notify_all()
            while ask.region not in self._done:
                if not self._writing and self._coming <= set(self._asked):
                    batch = [self._asked.pop(r) for r in sorted(self._asked, key=self._place)]
                    self._writing = True
                    break
                self._cond.wait()
            else:
                return self._answer(ask.region)
        try:
            outcome: dict[str, _Written | BaseException] = {
                written.config.region: written for written in _write_blocks(paths, batch)
            }
        except BaseException as err:  # every region of this write meets it
            outcome = {a.region: err for a in batch}
        with self._cond:
            self._done.update(outcome)
            self._coming -= set(outcome)
            self._writing = False
            self._cond.notify_all()
            return self._answer(ask.region)

    def _place(self, region: str) -> int:
        return self.regions.index(region) if region in self.regions else len(self.regions)

    def _answer(self, region: str) -> _Written:
        done = self._done[region]
        if isinstance(done, BaseException):
            raise done
        return done


_local_writes: LocalWrites | None = None


@contextmanager
def shared_local_writes(regions: Sequence[str]) -> Iterator[LocalWrites]:
    """While inside, the regions' post_deploy writes share their user_config writes."""
    global _local_writes
    _local_writes = LocalWrites(regions)
    try:
        yield _local_writes
    finally:
        _local_writes = None


def local_writes_coming(region: str) -> None:
    """`region` has deployed and will ask for its block soon (see LocalWrites)."""
    if (writes := _local_writes) is not None:
        writes.coming(region)


def post_deploy(
    paths: LocalPaths,
    region: str,
    outputs: Mapping[str, Mapping[str, str]],
    credentials: Credentials,
    *,
    key_name: str | None,
    private_key: str | None,
    retire_annex_blocks: bool = False,
    default_region: str | None = None,
    early: RegionVerdict | None = None,
) -> PostDeployReport:
    """Write the PEM and annex-cdk's block in user_config, then check what HTCondor reads.

    `default_region` (several regions in one run): that region's block sets
    ANNEX_DEFAULT_AWS_REGION and every other region's block leaves it out. `early`: the
    region_verdict read ahead, used if user_config did not change since."""
    report = PostDeployReport()
    if key_name and private_key:
        report.pem, report.pem_action = write_pem(paths, region, key_name, private_key)
        if report.pem_action == "kept-different":
            console.warn(
                f"{report.pem} exists and is not the private key of {key_name}; left it alone"
            )
    ask = _Ask(
        region,
        config_values(outputs, credentials, key_name),
        keep_key_files=not credentials.config_values,
        default_region=default_region,
        pem_comment=report.pem if report.pem_action in {"created", "unchanged"} else None,
        retire_annex_blocks=retire_annex_blocks,
        early=early,
    )
    writes = _local_writes
    written = writes.write(paths, ask) if writes is not None else _write_blocks(paths, [ask])[0]
    report.config, report.problems = written.config, written.problems
    config = report.config
    if config.action == "replaced" and (
        lost := user_config.dropped_lines(config.old_block, config.new_block)
    ):
        console.warn(
            f"replaced {len(lost)} line(s) of annex-cdk's block in {config.path}; the backup "
            f"{config.backup} keeps them (edits inside the block do not last): " + " | ".join(lost)
        )
    if not retire_annex_blocks:
        for block in report.config.annex_blocks:
            console.warn(
                f"{paths.user_config} lines {block.span.first_line}-{block.span.last_line} were "
                "appended by condor_annex -setup; annex-cdk's block comes later and wins "
                "(--retire-condor-annex-config comments them out)"
            )
    for problem in report.problems:
        console.warn(problem)
    return report
