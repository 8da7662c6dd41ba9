"""What the resource types the emulator adds itself (KeyPair, BucketPolicy, SecurityGroupIngress
and -Egress, Lambda::Permission) declare, and how moto asks for it.

Mix `OwnResource` in *before* `CloudFormationModel`, which must stay a direct base: moto's name
lookup (`get_name_type_map`) sees only the direct subclasses of CloudFormationModel.
"""

from __future__ import annotations

from typing import Any, ClassVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException


class OwnResource:
    #: The CloudFormation resource type.
    TYPE: ClassVar[str] = ""
    #: The property that names the resource ("" if it has none).
    NAME_PROPERTY: ClassVar[str] = ""
    #: The instance attribute that holds the physical id (what Ref answers).
    PHYSICAL_ID: ClassVar[str] = ""
    #: Fn::GetAtt attribute -> the instance attribute that answers it.
    GET_ATT: ClassVar[dict[str, str]] = {}

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.GET_ATT

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.GET_ATT:
            raise UnformattedGetAttTemplateException()
        return getattr(self, self.GET_ATT[attribute_name])

    @property
    def physical_resource_id(self) -> str:
        return str(getattr(self, self.PHYSICAL_ID))
