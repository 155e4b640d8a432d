"""Sending API requests through the test client and checking both ways against the
OpenAPI document with openapi-core."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from runner.web.api import add_api_routes
from runner.web.console import add_console_routes
from runner.web.openapi import document
from runner.web.pages import add_page_routes
from runner.web.voice import add_voice_routes
from tests.runner.web_harness import Client


def app_router() -> web.UrlDispatcher:
    """The app's routes, added as ``runner.web.app`` adds them, without its services."""
    app = web.Application()
    for add in (add_page_routes, add_console_routes, add_voice_routes, add_api_routes):
        add(app)
    return app.router


SPEC = OpenAPI.from_dict(document(app_router()))


@dataclass
class SentRequest:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


@dataclass
class ReceivedResponse:
    data: bytes
    status_code: int
    content_type: str
    headers: Headers


async def call(
    client: Client,
    method: str,
    path: str,
    *,
    body: Any = None,
    token: str | None = None,
    query: dict[str, str] | None = None,
    raw: bytes | None = None,
    valid_request: bool = True,
) -> tuple[int, Any]:
    """Send a request, validate it and its answer against the document; (status, JSON)."""
    headers = {"Accept": "application/json"}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["X-CSRF-Token"] = token
    response = await client.request(
        method, path, data=data, headers=headers, params=query, allow_redirects=False
    )
    content = await response.read()
    cookies = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    sent = SentRequest(
        host_url=f"http://{client.host}:{client.port}",
        path=path,
        method=method.lower(),
        body=data,
        content_type=headers.get("Content-Type", ""),
        parameters=RequestParameters(
            query=ImmutableMultiDict(query or {}),
            header=Headers(headers),
            cookie=ImmutableMultiDict({k: m.value for k, m in cookies.items()}),
        ),
    )
    received = ReceivedResponse(
        data=content,
        status_code=response.status,
        content_type=response.content_type,
        headers=Headers(list(response.headers.items())),
    )
    if valid_request:  # a deliberately wrong request is meant to fail the document
        SPEC.validate_request(sent)
    SPEC.validate_response(sent, received)
    return response.status, json.loads(content)
