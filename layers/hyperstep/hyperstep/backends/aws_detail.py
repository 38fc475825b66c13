"""What the AWS backends' state-change event details share.

AWS adds fields to its events over time, so detail models ignore unknown fields
(``AwsDetail``); tags come as a map in events and as a ``[{"Key", "Value"}]`` list from
some APIs, and ``tag_map`` takes both.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class AwsDetail(BaseModel):
    """A model of (part of) an AWS event detail or API response: unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


def tag_map(tags: Any) -> Any:
    """Tags as a map; also accepts the API's ``[{"Key": k, "Value": v}]`` list form."""
    if isinstance(tags, list):
        return {t.get("Key", t.get("key")): t.get("Value", t.get("value", "")) for t in tags if isinstance(t, dict)}
    return {} if tags is None else tags
