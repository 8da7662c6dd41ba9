"""Benchmarks for annex-cdk: `python -m benchmarks [--quick]`.

Five sections, each measured side by side with its baseline in the same run:

1. CLI start-up (`startup`): `annex-cdk --help` and `check-setup` versus `import typer`.
2. Synthesis (`synthesis`): in-process synth in a fresh process versus `cdk synth`.
3. The emulator (`emulated`): setup, no-op, checks and destroy versus `cdk deploy --all`.
4. A model of real AWS (`model`): the engine on a simulated CloudFormation versus condor_annex's
   sequential strategy and the critical path.
5. AWS's latency (`latency`): annex-cdk and the CDK CLI on one emulator at 0 ms and at a realistic
   per-call latency, side by side, with the targets judged at the realistic one.

Every figure is the median of several runs; the table and the machine's description go to
`benchmarks/RESULTS.md`.
"""
