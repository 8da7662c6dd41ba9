#!/usr/bin/env python3
"""The CDK app for `cdk synth|diff|deploy`: wiring only; the stacks come from the façade."""

from annex_stacks import run_cdk_app

run_cdk_app()
