"""Template bodies parsed as JSON when they are JSON.

moto parses every body with PyYAML's pure-Python loader first (JSON is YAML) and falls back to
json only when that fails: about ten times json's CPU for the JSON bodies that CDK, the CDK CLI
and annex-cdk send, on every CreateStack, UpdateStack, CreateChangeSet and template comparison.
A body json cannot read (YAML, as condor_annex's users may write) goes to moto's parser as
before; what a JSON body parses to is the same either way.
"""

from __future__ import annotations

import json
from typing import Any

from annex_emulator import patches


def parse_template(template: str) -> Any:
    try:
        return json.loads(template)
    except ValueError:
        return patches.ORIGINALS["Stack.parse_template"](template)


def change_set_parse_template(self: Any) -> None:
    try:
        self.template_dict = json.loads(self.template)
    except ValueError:
        patches.ORIGINALS["ChangeSet._parse_template"](self)


def install() -> None:
    from moto.cloudformation.models import ChangeSet, Stack

    patches.patch(Stack, "parse_template", staticmethod(parse_template))
    patches.patch(ChangeSet, "_parse_template", change_set_parse_template)
