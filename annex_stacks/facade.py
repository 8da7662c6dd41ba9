"""The one entry point into CDK: `cdk synth` (app.py) and the CLI both come through here.

aws_cdk is imported inside the functions, so importing this module does not start jsii.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from annex_stacks import names, stack_specs
from annex_stacks.settings import AnnexSettings, context_keys, recorded_by_stack

if TYPE_CHECKING:
    import aws_cdk as cdk
    from constructs import Construct

_CONTEXT_KEYS = context_keys()
#: The CDK CLI's project context file: `annex-cdk setup` records what it deployed there, so
#: that `cdk diff|deploy` in the same directory builds the same templates (cdk.json's
#: "context" and `-c` still take precedence, so cdk.json carries no annex:* values).
CONTEXT_FILE = "cdk.context.json"
#: Which settings each stack records in its template Metadata, so that a later run without
#: flags can keep what the deployed stacks were built with.
_RECORDED = recorded_by_stack()


@dataclass(frozen=True)
class SynthResult:
    """Templates by stack name, in deployment order, and the warnings synthesis raised."""

    templates: dict[str, dict[str, Any]]
    warnings: tuple[str, ...]
    outdir: Path


def _quiet_jsii_exit() -> None:
    """Before jsii starts its node process: its exit hook no longer prints a traceback when
    that process is gone already.

    Ctrl-C in a terminal signals the whole process group, so node dies with us; jsii's atexit
    hook then writes to its closed pipe and Python prints "Exception ignored in atexit
    callback" with a BrokenPipeError traceback under our one "interrupted" line. Only that
    error is silenced: there is nothing left to stop. Nor is there when Ctrl-C came before node
    was started at all, and jsii's `__del__` stops it anyway (an AttributeError).
    """
    from jsii._kernel.providers import process

    # jsii's methods carry no annotations; these are their signatures.
    stop: Callable[[Any], None] = process._NodeProcess.stop
    start: Callable[[Any], None] = process._NodeProcess.start
    if getattr(stop, "annex_quiet", False):
        return

    def recorded_start(self: Any) -> None:
        # Recorded first: Ctrl-C can kill node during start's handshake, and the failure
        # that follows must still be told an interruption (_node_interrupted).
        _NODE_PROCESSES.append(self)
        start(self)

    def quiet_stop(self: Any) -> None:
        if not hasattr(self, "_process"):
            return  # Ctrl-C came before node was started: nothing to stop (jsii's __del__)
        with contextlib.suppress(BrokenPipeError):
            stop(self)

    quiet_stop.annex_quiet = True  # type: ignore[attr-defined]  # a marker on our own function, so that the patch is applied once
    process._NodeProcess.stop = quiet_stop  # type: ignore[method-assign]  # jsii's exit hook, patched (see the docstring)
    process._NodeProcess.start = recorded_start  # type: ignore[method-assign]  # jsii's exit hook, patched (see the docstring)


#: jsii's node processes started in this process (one, in practice).
_NODE_PROCESSES: list[Any] = []


def _node_interrupted() -> bool:
    """Whether jsii's node process died of SIGINT (Ctrl-C signals the whole process group)."""
    return any(
        getattr(getattr(node, "_process", None), "poll", lambda: None)() == -signal.SIGINT
        for node in _NODE_PROCESSES
    )


def new_app(*, outdir: Path | None = None) -> cdk.App:
    """An App for these stacks (the CLI's and app.py's alike).

    CDK's built-in CloudFormation validation is off: it costs about ten seconds of every
    synthesis, and cfn-lint, pinned, checks every template in the tests instead (zero errors
    and warnings). cdk-nag still runs in every synthesis.
    """
    _warmed_up()
    _quiet_jsii_exit()
    import aws_cdk as cdk

    return cdk.App(outdir=str(outdir) if outdir else None, builtin_cloud_formation_validation=False)


def settings_from_app_context(app: cdk.App, **overrides: Any) -> AnnexSettings:
    """Settings from the context the CDK CLI hands the app (cdk.json, `-c key=value`)."""
    ctx = {key: app.node.try_get_context(key) for key in _CONTEXT_KEYS}
    return AnnexSettings.from_context(ctx, **overrides)


def recorded_context(templates: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The settings (as context) that deployed templates were built with; {} if none."""
    ctx: dict[str, Any] = {}
    for name, template in templates.items():
        recorded = template.get("Metadata", {}).get(names.SETTINGS_METADATA, {})
        ctx.update({k: v for k, v in recorded.items() if k in _RECORDED.get(name, ())})
    return ctx


def recorded_settings_context(settings: AnnexSettings) -> dict[str, Any]:
    """The settings the stacks record, as CDK context: what cdk.context.json carries."""
    ctx = settings.to_context()
    keys = {key for recorded in _RECORDED.values() for key in recorded}
    return {key: value for key, value in ctx.items() if key in keys}


def build_app(
    settings: AnnexSettings,
    *,
    app: cdk.App | None = None,
    outdir: Path | None = None,
    nag: bool = True,
    suffix: str = "",
) -> cdk.App:
    """Add the HTCondorAnnex-* stacks, configured by `settings`, to `app` (a new one if None).

    `suffix` tells one region's stacks from another's in an app that holds several
    (`synth_regions`): it goes into the construct ids only, never into the stack names or the
    templates (logical ids are made from the paths below each stack)."""
    _warmed_up()
    _quiet_jsii_exit()
    import aws_cdk as cdk

    from annex_stacks import nag as nag_rules

    if app is None:
        app = new_app(outdir=outdir)
    # One environment rule for `cdk` and the CLI alike: the region, never the account. The
    # account stays ${AWS::AccountId}, so both tools synthesize the same template for one
    # region (a literal account on one path was a "replacement" of the Lambda permissions).
    env = cdk.Environment(region=settings.region) if settings.region else None
    for spec in stack_specs.enabled(settings):
        stack = _construct(spec)(
            app,
            spec.name + suffix,
            stack_name=spec.name,
            settings=settings,
            env=env,
            description=spec.description,
            # Templates go inline to CloudFormation with the caller's credentials: no bootstrap.
            synthesizer=cdk.LegacyStackSynthesizer(),
            analytics_reporting=False,
        )
        _tag(stack, settings)
        _bound(stack, settings)
        if spec.records:
            ctx = settings.to_context()
            stack.template_options.metadata = {
                names.SETTINGS_METADATA: {key: ctx[key] for key in spec.records if key in ctx}
            }
    if nag and not getattr(app, "annex_nagged", False):
        nag_rules.register(app)
        app.annex_nagged = True  # type: ignore[attr-defined]  # a mark on the App: nag once per app
    return app


class _StackClass(Protocol):
    """What a spec's construct is: a Stack class built from the settings."""

    def __call__(
        self, scope: Construct, construct_id: str, *, settings: AnnexSettings, **kwargs: Any
    ) -> cdk.Stack: ...


def _construct(spec: stack_specs.StackSpec) -> _StackClass:
    """The Stack class a spec names ("module:Class")."""
    module, _, cls = spec.construct.partition(":")
    stack_cls: _StackClass = getattr(import_module(module), cls)
    return stack_cls


def _tag(stack: cdk.Stack, settings: AnnexSettings) -> None:
    import aws_cdk as cdk

    # Not on the stack itself: stack-level tags propagate to the key pair, where a tag change
    # means a new key. User tags never reach the key pair for the same reason.
    no_stack = ["aws:cdk:stack"]
    cdk.Tags.of(stack).add(names.TAG_SETUP, names.TAG_SETUP_VALUE, exclude_resource_types=no_stack)
    for key, value in settings.extra_tags.items():
        cdk.Tags.of(stack).add(key, value, exclude_resource_types=[*no_stack, "AWS::EC2::KeyPair"])


def _bound(stack: cdk.Stack, settings: AnnexSettings) -> None:
    """Every IAM role of the stack carries the permissions boundary, custom resources' and
    CDK's own included: CDK's aspect sets it on each AWS::IAM::Role resource at synthesis."""
    if not settings.permissions_boundary:
        return
    from aws_cdk import aws_iam as iam

    boundary = iam.ManagedPolicy.from_managed_policy_arn(
        stack, names.CID_PERMISSIONS_BOUNDARY, settings.permissions_boundary
    )
    iam.PermissionsBoundary.of(stack).apply(boundary)


def run_cdk_app() -> None:
    """What app.py runs under the CDK CLI: a bad setting is one line on stderr, not a trace."""
    import sys

    from annex_stacks.settings import SettingsError

    app = new_app()
    # The CDK CLI tells the app its region (profile, AWS_REGION); the CLI path pins the same.
    region = app.node.try_get_context(names.CTX_REGION) or os.environ.get("CDK_DEFAULT_REGION")
    try:
        settings = settings_from_app_context(app, region=region)
        build_app(settings, app=app)
    except SettingsError as err:
        sys.exit(f"annex-cdk: invalid setting {err}")
    if not settings.allowed_cidrs:
        print(
            f"annex-cdk: warning: {names.CTX_ALLOWED_CIDRS} is empty, so the security group "
            "accepts nothing; pass -c or run `annex-cdk setup`, which records its settings in "
            f"{CONTEXT_FILE}",
            file=sys.stderr,
        )
    app.synth()


def _silence_node_banner() -> None:
    # jsii prints a banner about Node 20's end of life at every start (the README says which
    # Node to install instead); a CLI user should not read it on every setup.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


_warming_lock = threading.Lock()
_warming: threading.Thread | None = None


def warm_up(unless: Callable[[], bool] | None = None) -> None:
    """Start loading CDK in the background (its Python modules, jsii's node process and
    aws-cdk-lib's assembly: most of a synthesis's seconds), for a run that reads AWS before it
    synthesizes: the reads and the loading overlap. A run that synthesizes nothing after all
    waits for the loading when it exits.

    `unless` is asked first, in the loading thread: if it says True (the templates are in the
    synthesis cache, say), nothing is loaded. The loading costs about a second of CPU."""
    global _warming
    with _warming_lock:
        if _warming is None:
            # Not a daemon: a run that ends before it synthesizes (an error, a refusal) waits for
            # the loading at exit. jsii writes its runtime's files into a temporary directory
            # that the interpreter's exit removes; a daemon thread still writing there made that
            # removal fail with a traceback under the run's own last line.
            _warming = threading.Thread(target=_load_cdk, args=(unless,), name="cdk-warm-up")
            _warming.start()


def _warmed_up() -> None:
    """Wait for the background loading to end: jsii's kernel takes one caller at a time, and
    a synthesis beside a module still loading got another call's answers."""
    with _warming_lock:
        warming = _warming
    if warming is not None and warming is not threading.current_thread():
        warming.join()


def _load_cdk(unless: Callable[[], bool] | None) -> None:
    # Either guess may be wrong: that costs time, never a result (synthesis loads what it
    # needs itself).
    with contextlib.suppress(Exception):
        if unless is not None and unless():
            return
    # A failure here is met again, and reported, when synthesis imports in its own thread
    # (a failed import leaves nothing behind in sys.modules).
    with contextlib.suppress(Exception):
        _silence_node_banner()
        _quiet_jsii_exit()
        # Every setup's stacks: an optional stack's module loads when a synthesis builds it
        # (the guardrail's alone takes a fifth of a second, which most runs do not need).
        for spec in stack_specs.STACKS:
            if not spec.optional:
                import_module(spec.construct.partition(":")[0])
        import_module("annex_stacks.nag")


def synth(settings: AnnexSettings, *, outdir: Path | None = None, nag: bool = True) -> SynthResult:
    """Synthesize in this process and return the templates (and write the cloud assembly)."""
    _silence_node_banner()
    out = Path(outdir) if outdir else Path(tempfile.mkdtemp(prefix="annex-cdk-synth-"))
    try:
        app = build_app(settings, outdir=out, nag=nag)
        assembly = app.synth()
    except Exception:
        # Ctrl-C can kill node before Python sees its own SIGINT: jsii then fails reading
        # node's reply (JSONDecodeError). That is an interruption, not an unexpected error.
        if _node_interrupted():
            raise KeyboardInterrupt from None
        raise
    return _collect(assembly, settings, out)


def _collect(assembly: Any, settings: AnnexSettings, out: Path, *, suffix: str = "") -> SynthResult:
    """The templates and warnings of one region's stacks (construct ids `name + suffix`)."""
    templates: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for spec in stack_specs.enabled(settings):
        artifact = assembly.get_stack_artifact(spec.name + suffix)
        templates[spec.name] = artifact.template
        warnings.extend(
            str(m.entry.data) for m in artifact.messages if str(m.level).lower().endswith("warning")
        )
    return SynthResult(templates=templates, warnings=tuple(dict.fromkeys(warnings)), outdir=out)


def synth_regions(
    settings: list[AnnexSettings], *, outdir: Path | None = None, nag: bool = True
) -> dict[str, SynthResult]:
    """One synthesis for several regions, in one app: jsii starts and the assembly is written
    once. Each region's templates are exactly those `synth` makes for it alone (tests/infra
    check that).

    The stacks name no region (their ARNs and names use AWS::Region), so regions whose settings
    differ in nothing but the region share one set of stacks, built for the first of them.
    Should that set's templates or warnings spell out its region all the same (a tag's value,
    say), its other regions get stacks of their own in a second app.
    """
    _silence_node_banner()
    out = Path(outdir) if outdir else Path(tempfile.mkdtemp(prefix="annex-cdk-synth-"))
    sharing: dict[str, list[AnnexSettings]] = {}
    for one in settings:
        sharing.setdefault(_apart_from_region(one), []).append(one)
    firsts = [group[0] for group in sharing.values()]
    results = _synth_together(firsts, out, nag)
    alone: list[AnnexSettings] = []
    for first, *others in sharing.values():
        shared = results[str(first.region)]
        if _names_region(shared, str(first.region)):
            alone.extend(others)
            continue
        for other in others:
            results[str(other.region)] = copy.deepcopy(shared)  # each region's thread its own
    if alone:
        results.update(_synth_together(alone, out / "alone", nag))
    return {str(one.region): results[str(one.region)] for one in settings}


def _apart_from_region(settings: AnnexSettings) -> str:
    ctx = settings.to_context()
    ctx.pop(names.CTX_REGION, None)
    return json.dumps(ctx, sort_keys=True)


def _names_region(result: SynthResult, region: str) -> bool:
    return region in json.dumps([result.templates, result.warnings])


def _synth_together(settings: list[AnnexSettings], out: Path, nag: bool) -> dict[str, SynthResult]:
    """Each region's stacks (its own settings, pinned to its region) in one app."""
    try:
        app = new_app(outdir=out)
        for one in settings:
            build_app(one, app=app, nag=nag, suffix=f"-{one.region}")
        assembly = app.synth()
    except Exception:
        if _node_interrupted():
            raise KeyboardInterrupt from None
        raise
    return {
        str(one.region): _collect(assembly, one, out, suffix=f"-{one.region}") for one in settings
    }
