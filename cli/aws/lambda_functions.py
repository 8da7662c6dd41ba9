"""Lambda, as the use cases need it: a deployed function's configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from annex_cdk.aws.service import Service, not_found_raises


@dataclass(frozen=True)
class FunctionConfig:
    runtime: str
    environment: Mapping[str, str] = field(default_factory=dict)


class Lambda(Service):
    name = "lambda"

    @not_found_raises
    def configuration(self, function: str) -> FunctionConfig:
        """GetFunctionConfiguration of a function named by name or ARN."""
        found = self._client.get_function_configuration(FunctionName=function)
        variables = found.get("Environment", {}).get("Variables", {})
        return FunctionConfig(str(found.get("Runtime", "")), dict(variables))
