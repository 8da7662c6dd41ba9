"""CloudFormation template facts: pure, no AWS calls and no aws_cdk import.

Shared by the template diff (`annex_cdk.templates.diff`) and the local emulator, which reads the
same templates (the emulator may import this; the product never imports the emulator).
"""

from __future__ import annotations

import re
from typing import Final

#: A variable of an Fn::Sub string, ``${Name}`` or ``${Name.Attribute}``; group 1 is the name.
#: ``${!Literal}`` is an escaped literal, not a variable.
SUB_VARIABLE: Final = re.compile(r"\$\{([^!}][^}]*)\}")
