"""Twilio's JSON shapes: the Call and Message resources and its error body."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulation.carrier.resources import API_VERSION, SimCall, SimMessage, rfc2822

__all__ = ["call_json", "message_json", "twilio_error"]

CALL_SUBRESOURCES = (
    "notifications",
    "recordings",
    "payments",
    "events",
    "siprec",
    "streams",
    "transcriptions",
    "user_defined_message_subscriptions",
    "user_defined_messages",
)


def call_json(account_sid: str, call: SimCall) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call.sid}"
    # the Call resource has no "initiated"; Twilio shows it as queued until it rings
    status = "queued" if call.status == "initiated" else call.status
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.created),
        "date_updated": rfc2822(call.updated or call.created),
        "parent_call_sid": None,
        "account_sid": account_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "phone_number_sid": None,
        "status": status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": None if call.duration is None else str(call.duration),
        "price": None,
        "price_unit": "USD",
        "direction": "outbound-api",
        "answered_by": None,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": f"{uri}.json",
        "subresource_uris": {name: f"{uri}/{_camel(name)}.json" for name in CALL_SUBRESOURCES},
    }


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def message_json(account_sid: str, message: SimMessage) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.sid}"
    return {
        "body": message.body,
        "num_segments": str(message.segments),
        "direction": "outbound-api",
        "from": message.from_,
        "to": message.to,
        "date_updated": rfc2822(message.updated or message.created),
        "price": None,
        "error_message": None,
        "uri": f"{uri}.json",
        "account_sid": account_sid,
        "num_media": "0",
        "status": message.status,
        "messaging_service_sid": None,
        "sid": message.sid,
        "date_sent": rfc2822(message.sent),
        "date_created": rfc2822(message.created),
        "error_code": message.error_code,
        "price_unit": "USD",
        "api_version": API_VERSION,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
    }


def twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )
