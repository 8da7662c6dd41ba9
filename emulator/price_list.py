"""The AWS Price List Query API (pricing:GetProducts) for a few EC2 instance types; moto has none.

Answers as the real endpoint does (JSON 1.1, target `AWSPriceListService.GetProducts`): each
PriceList entry is a JSON *string* with product attributes and OnDemand terms, and a TERM_MATCH
filter keeps the products whose attribute equals the value (case-insensitively, as the service
matches). Beside each Linux shared-tenancy product the table holds the same type's Windows and
dedicated-tenancy products, as the real catalogue does, so that a caller whose filters do not pin
one product sees several prices. A type or region not in the table has no product: an empty list.

The figures are the published on-demand hourly prices (USD) of these types in these regions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

TARGET_PREFIX = "AWSPriceListService."
SERVICE_CODE = "AmazonEC2"

#: (region, instance type) -> (vCPUs, Linux hourly USD)
LINUX_PRICES: dict[tuple[str, str], tuple[int, float]] = {
    ("us-east-1", "m4.large"): (2, 0.10),
    ("us-east-1", "m5.large"): (2, 0.096),
    ("us-east-1", "m5.xlarge"): (4, 0.192),
    ("us-east-1", "c5.large"): (2, 0.085),
    ("us-east-1", "t3.micro"): (2, 0.0104),
    ("us-west-2", "m4.large"): (2, 0.10),
    ("us-west-2", "m5.large"): (2, 0.096),
    ("us-west-2", "t3.micro"): (2, 0.0104),
    ("eu-west-1", "m4.large"): (2, 0.111),
    ("eu-west-1", "m5.large"): (2, 0.107),
    ("eu-west-1", "t3.micro"): (2, 0.0114),
}
#: Other products of the same type: (operatingSystem, tenancy, price factor).
_VARIANTS = (("Linux", "Shared", 1.0), ("Windows", "Shared", 1.9), ("Linux", "Dedicated", 1.1))
_ON_DEMAND_TERM = "JRTCKXETXF"
_PRICE_DIMENSION = "6YS6EN2CT7"


def _product(
    region: str, instance_type: str, os_name: str, tenancy: str, usd: float
) -> dict[str, Any]:
    sku = hashlib.sha1(f"{region}/{instance_type}/{os_name}/{tenancy}".encode()).hexdigest()[:16]
    vcpus = LINUX_PRICES[(region, instance_type)][0]
    return {
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "servicecode": SERVICE_CODE,
                "instanceType": instance_type,
                "regionCode": region,
                "vcpu": str(vcpus),
                "operatingSystem": os_name,
                "tenancy": tenancy,
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "licenseModel": "No License required",
            },
            "sku": sku,
        },
        "serviceCode": SERVICE_CODE,
        "terms": {
            "OnDemand": {
                f"{sku}.{_ON_DEMAND_TERM}": {
                    "offerTermCode": _ON_DEMAND_TERM,
                    "sku": sku,
                    "priceDimensions": {
                        f"{sku}.{_ON_DEMAND_TERM}.{_PRICE_DIMENSION}": {
                            "unit": "Hrs",
                            "beginRange": "0",
                            "endRange": "Inf",
                            "description": (
                                f"${usd:.4f} per On Demand {os_name} {instance_type} Instance Hour"
                            ),
                            "pricePerUnit": {"USD": f"{usd:.10f}"},
                        }
                    },
                }
            }
        },
    }


def products() -> list[dict[str, Any]]:
    return [
        _product(region, itype, os_name, tenancy, round(usd * factor, 6))
        for (region, itype), (_, usd) in LINUX_PRICES.items()
        for os_name, tenancy, factor in _VARIANTS
    ]


def _error(code: str, message: str) -> tuple[str, dict[str, Any]]:
    return "400 Bad Request", {"__type": code, "Message": message}


def get_products(request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(request.get("ServiceCode"), str):
        return _error("InvalidParameterException", "ServiceCode is required")
    filters = request.get("Filters") or []
    for f in filters:
        if f.get("Type") != "TERM_MATCH":
            return _error("InvalidParameterException", f"unsupported filter type {f.get('Type')}")
    if request["ServiceCode"] != SERVICE_CODE:
        return "200 OK", {"FormatVersion": "aws_v1", "PriceList": []}
    found = [
        json.dumps(p)
        for p in products()
        if all(
            str(p["product"]["attributes"].get(f["Field"], "")).lower() == str(f["Value"]).lower()
            for f in filters
        )
    ]
    return "200 OK", {"FormatVersion": "aws_v1", "PriceList": found}


def intercept(environ: dict[str, Any]) -> Callable[[Callable[..., Any]], list[bytes]] | None:
    """A handler for a Price List request, or None for every other request."""
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    if not target.startswith(TARGET_PREFIX):
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b"{}"
    operation = target[len(TARGET_PREFIX) :]
    if operation == "GetProducts":
        status, reply = get_products(json.loads(body or b"{}"))
    else:
        status, reply = _error("UnknownOperationException", f"{operation} is not emulated")

    def answer(start_response: Callable[..., Any]) -> list[bytes]:
        data = json.dumps(reply).encode()
        start_response(
            status,
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
        )
        return [data]

    return answer
