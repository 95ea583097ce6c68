"""Webhook bodies: both documented key styles, and a clear error for anything else."""

from __future__ import annotations

import pytest

from lifecycle.web import Callback, CallbackInvalid, parse_callback

ID = "491dd6c97d64475ba0ce346a18530ce5"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"campaign_sid": ID, "status": "Completed"}, Callback(ID, "Completed")),
        ({"CampaignSid": ID, "Status": "Canceled", "Stats": "{}"}, Callback(ID, "Canceled")),
        ({"CampaignSid": ID, "FinalStatus": "failed", "To": "+9198"}, Callback(ID, "failed")),
        ({"campaign_sid": ID, "call_sid": "abc", "number": "+91"}, Callback(ID, None)),
    ],
)
def test_parse_callback_accepts_both_key_styles(
    fields: dict[str, object], expected: Callback
) -> None:
    assert parse_callback(fields) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "missing campaign id: expected one of campaign_sid, CampaignSid, campaign_id"),
        ({"campaign_sid": 42}, "missing campaign id"),
        ({"campaign_sid": "../../etc/passwd"}, "campaign_sid: not an Exotel id"),
        ({"campaign_sid": ID, "status": ["x"]}, "status: must be a string"),
    ],
)
def test_parse_callback_names_what_is_wrong(fields: dict[str, object], message: str) -> None:
    with pytest.raises(CallbackInvalid, match=message.replace(".", r"\.")):
        parse_callback(fields)
