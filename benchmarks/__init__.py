"""Benchmarks for annex-cdk: `python -m benchmarks [--quick]`.

Four sections, each measured side by side with its baseline in the same run:

1. CLI start-up (`startup`): `annex-cdk --help` and `check-setup` versus `import typer`.
2. Synthesis (`synthesis`): in-process synth in a fresh process versus `cdk synth`.
3. The emulator (`emulated`): setup, no-op, checks and destroy versus `cdk deploy --all`.
4. A model of real AWS (`model`): the engine on a simulated CloudFormation versus condor_annex's
   sequential strategy and the critical path.

Every figure is the median of several runs; the table and the machine's description go to
`benchmarks/RESULTS.md`.
"""
