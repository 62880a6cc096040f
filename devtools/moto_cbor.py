"""moto's server, speaking Smithy RPC v2 CBOR too: the protocol the AWS SDK for Go v2 (and so
hashicorp/aws) uses for CloudWatch, which moto 5.2.5 routes nowhere (404).

No codec is written here: botocore, whose models list `smithy-rpc-v2-cbor` beside `json` for
those services, parses the CBOR request and writes the CBOR answer, both driven by the
operation's shapes; moto handles the same call in the service's JSON protocol. Spec:
https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, ShapeResolver
from botocore.parsers import create_parser
from botocore.serialize import RpcV2CBORSerializer, create_serializer
from werkzeug.serving import BaseWSGIServer, make_server

RPC_V2_CBOR = "rpc-v2-cbor"
_PATH = re.compile(r"^/service/(?P<target>[^/]+)/operation/(?P<operation>[^/]+)$")
_ERROR_SHAPE = ShapeResolver(
    {
        "Error": {
            "type": "structure",
            "members": {"__type": {"shape": "Text"}, "message": {"shape": "Text"}},
        },
        "Text": {"type": "string"},
    }
).get_shape_by_name("Error")
_PASSED_ON = ("x-amzn-requestid", "x-amzn-query-error")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _read_all(chunks: Iterable[bytes]) -> bytes:
    """A WSGI answer's body, whole, and the answer closed (PEP 3333: close() once consumed)."""
    try:
        return b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()


class ServiceModels:
    """botocore's service models by their `targetPrefix`, for the services that list CBOR
    (all models are read once, on the first unknown prefix: about 5 s)."""

    def __init__(self) -> None:
        self._session = botocore.session.get_session()
        self._by_target: dict[str, ServiceModel] | None = None
        self._lock = threading.Lock()  # moto's server is threaded: one scan, seen whole

    def operation(self, target: str, name: str) -> OperationModel | None:
        with self._lock:
            if self._by_target is None:
                self._by_target = self._scan()
        model = self._by_target.get(target)
        if model is None or name not in model.operation_names:
            return None
        return model.operation_model(name)

    def _scan(self) -> dict[str, ServiceModel]:
        loader = self._session.get_component("data_loader")
        found = {}
        for service in self._session.get_available_services():
            metadata = loader.load_service_model(service, "service-2")["metadata"]
            if "smithy-rpc-v2-cbor" in metadata.get("protocols", ()):
                found[metadata["targetPrefix"]] = self._session.get_service_model(service)
        return found


class RpcV2CborAdapter:
    """WSGI middleware: an RPC v2 CBOR call (header `smithy-protocol: rpc-v2-cbor`) goes on to
    `app` as the same call in JSON (`X-Amz-Target`), and its answer comes back as CBOR; any
    other request passes through untouched."""

    def __init__(self, app: WsgiApp, models: ServiceModels | None = None) -> None:
        self.app = app
        self.models = models or ServiceModels()
        self._cbor_in = create_parser("smithy-rpc-v2-cbor")
        self._json_out = create_serializer("json")
        self._json_in = create_parser("json")
        self._cbor_out = RpcV2CBORSerializer()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = _PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("HTTP_SMITHY_PROTOCOL") != RPC_V2_CBOR or match is None:
            return self.app(environ, start_response)
        operation = self.models.operation(match["target"], match["operation"])
        if operation is None:
            return self._answer(start_response, 404, {"__type": "UnknownOperationException"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        params = {}
        if operation.input_shape is not None and body:
            params = self._cbor_in.parse(
                {"body": body, "headers": {}, "status_code": 200}, operation.input_shape
            )
            params.pop("ResponseMetadata", None)
        status, headers, json_body = self._call_json(environ, operation, params)
        passed = {k: v for k, v in headers.items() if k.lower() in _PASSED_ON}
        if status >= 300:
            error = json.loads(json_body or b"{}")
            fields = {
                "__type": error.get("__type", str(status)),
                "message": error.get("message", error.get("Message", "")),
            }
            return self._answer(start_response, status, fields, passed)
        result: dict[str, Any] = {}
        if operation.output_shape is not None:
            result = self._json_in.parse(
                {"body": json_body, "headers": headers, "status_code": status},
                operation.output_shape,
            )
            result.pop("ResponseMetadata", None)
        return self._answer(start_response, status, result, passed, operation)

    def _call_json(
        self, environ: dict[str, Any], operation: OperationModel, params: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        request = self._json_out.serialize_to_request(params, operation)
        body: bytes = request["body"]
        inner = {k: v for k, v in environ.items() if k != "HTTP_SMITHY_PROTOCOL"}
        inner.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": request["headers"]["Content-Type"],
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": request["headers"]["X-Amz-Target"],
                "wsgi.input": io.BytesIO(body),
            }
        )
        answered: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            answered.update(status=int(status.split()[0]), headers=dict(headers))

        content = _read_all(self.app(inner, capture))
        return answered["status"], answered["headers"], content

    def _answer(
        self,
        start_response: StartResponse,
        status: int,
        fields: dict[str, Any],
        headers: dict[str, str] | None = None,
        operation: OperationModel | None = None,
    ) -> list[bytes]:
        shape = operation.output_shape if operation is not None else _ERROR_SHAPE
        body = self._cbor_out._serialize_body_params(fields, shape) if shape is not None else b""
        start_response(
            f"{status} {'OK' if status < 300 else 'Error'}",
            [
                *(headers or {}).items(),
                ("smithy-protocol", RPC_V2_CBOR),
                ("Content-Type", "application/cbor"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]


def one_call_at_a_time(app: WsgiApp) -> WsgiApp:
    """`app`, answering one request at a time: moto's backends are not thread-safe (seen:
    SSM DescribeParameters beside PutParameter, "dictionary changed size during iteration").
    Only for callers that never long-poll: a waiting ReceiveMessage would hold every call."""
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with lock:
            return [_read_all(app(environ, start_response))]

    return serialized


def moto_server(host: str, port: int, serialize: bool = False) -> BaseWSGIServer:
    """moto's server app behind RpcV2CborAdapter (and one_call_at_a_time when `serialize`),
    threaded, as moto's ThreadedMotoServer builds it (not yet serving)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    app: WsgiApp = RpcV2CborAdapter(DomainDispatcherApplication(create_backend_app))
    if serialize:
        app = one_call_at_a_time(app)
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
