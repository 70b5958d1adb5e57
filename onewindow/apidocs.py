"""OpenAPI 3.1 and AsyncAPI 3 documents read from the services' own code.

Nothing here is written by hand per method: for every RPC entrypoint the
arguments come from its signature, and their schema from the marshmallow
schema the method validates them with. That schema is found by reading the
method (and, one or two calls down, the use case it hands over to) for the
first `load(<schema>, data)` (or any call taking a schema and its data
that way): the same line that rejects bad input documents
it. A loader whose schema is built at run time (per catalog item) names a
static schema that describes it with `validation.described_by`. Events are
described by the schemas of the handlers that consume them; several
consumers of one event give `allOf` (a publisher must satisfy every one).

The service classes are passed in (see scripts/api_docs.py): this module
never imports a service.
"""
import ast
import inspect
import json
import textwrap

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from .errors import CONTRACT_ERRORS

API_PREFIX = "/api/v1"
OPENAPI_VERSION = "3.1.0"
ASYNCAPI_VERSION = "3.0.0"
DOC_VERSION = "1"

# The stable error codes of docs/wire.md: exc_type -> (HTTP status, code).
ERROR_STATUS = {
    "ValidationFailed": (400, "validation_failed"),
    "IncorrectSignature": (400, "incorrect_signature"),
    "MalformedRequest": (400, "malformed_request"),
    "Forbidden": (403, "forbidden"),
    "NotFound": (404, "not_found"),
    "MethodNotFound": (404, "method_not_found"),
    "Conflict": (409, "conflict"),
}
assert {e.__name__ for e in CONTRACT_ERRORS} <= set(ERROR_STATUS)


# ------------------------------------------------------------ reading the code

def _is_schema(value):
    return isinstance(value, Schema) or (isinstance(value, type) and issubclass(value, Schema))


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _resolve(node, namespace):
    """The object a Name or a.b.c expression names in the function's module."""
    name = _dotted(node)
    if not name:
        return None
    parts = name.split(".")
    if parts[0] in ("self", "cls"):
        return None
    value = namespace.get(parts[0])
    for part in parts[1:]:
        value = getattr(value, part, None)
    return value


def _parsed(fn):
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    return ast.parse(source)


def _calls_in_order(tree):
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return sorted(calls, key=lambda n: (n.lineno, n.col_offset))


def _argument_names(call):
    """How the call's data argument maps to the caller's names:
    {field: name} for a dict literal, or the name of a whole object."""
    if len(call.args) < 2:
        return None
    data = call.args[1]
    if isinstance(data, ast.Dict):
        return {k.value: v.id for k, v in zip(data.keys, data.values)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Name)}
    if isinstance(data, ast.Name):
        return data.id
    return None


def _positional_names(call, callee):
    """{callee parameter: caller name} for plain-name arguments of a call."""
    try:
        params = list(inspect.signature(callee).parameters)
    except (TypeError, ValueError):
        return {}
    names = {}
    for param, arg in zip(params, call.args):
        if isinstance(arg, ast.Name):
            names[param] = arg.id
    for keyword in call.keywords:
        if keyword.arg and isinstance(keyword.value, ast.Name):
            names[keyword.arg] = keyword.value.id
    return names


def _rename(mapping, names):
    if mapping is None:
        return None
    if isinstance(mapping, str):
        return names.get(mapping)
    return {field: names[name] for field, name in mapping.items() if name in names}


def validated_by(fn, any_argument=False, depth=2):
    """(schema, mapping) of the first schema `fn` loads, or (None, None).

    mapping is {schema field: fn parameter} or the name of the parameter that
    is the whole object. With any_argument, a schema passed to any call
    counts (event handlers hand theirs to a helper)."""
    fn = inspect.unwrap(fn)
    tree = _parsed(fn)
    if tree is None:
        return None, None
    namespace = fn.__globals__
    for call in _calls_in_order(tree):
        callee = _resolve(call.func, namespace)
        described = getattr(callee, "described_by", None)
        if described is not None:
            return described, _argument_names(call) if len(call.args) >= 2 else None
        # load(schema, data), or any helper taking (schema, data) the same way
        if call.args and _is_schema(_resolve(call.args[0], namespace)):
            return _resolve(call.args[0], namespace), _argument_names(call)
        if any_argument:
            for arg in call.args:
                schema = _resolve(arg, namespace)
                if _is_schema(schema):
                    return schema, None
        # down into the service's own use cases (its package), not libraries
        if depth and inspect.isfunction(callee) and callee.__module__.split(".")[0] == fn.__module__.split(".")[0]:
            schema, mapping = validated_by(callee, any_argument, depth - 1)
            if schema is not None:
                return schema, _rename(mapping, _positional_names(call, callee))
    return None, None


def rpc_methods(service_cls):
    """[(method name, function)] of a service class's RPC entrypoints."""
    from nameko.rpc import Rpc

    found = []
    for attr, member in vars(service_cls).items():
        if any(isinstance(e, Rpc) for e in getattr(member, "nameko_entrypoints", ())):
            found.append((attr, member))
    return found


def event_consumers(service_cls):
    """[(source service, event type, handler function)] of a service class."""
    from nameko.events import EventHandler

    found = []
    for attr, member in vars(service_cls).items():
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, EventHandler):
                found.append((entrypoint.source_service, entrypoint.event_type, member))
    return found


def emitted_events(service_cls):
    """Event types a service emits with a literal name anywhere in its package
    (an event only emitted through a variable is found through its consumers)."""
    import importlib
    import pkgutil

    package_name = service_cls.__module__.rsplit(".", 1)[0]
    package = importlib.import_module(package_name)
    found = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package_name}.{info.name}")
        tree = _parsed(module)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit":
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
    return found


# ------------------------------------------------------------ schema conversion

def _schema_name(schema):
    cls = schema if isinstance(schema, type) else type(schema)
    module = cls.__module__.split(".")
    owner = module[1] if len(module) > 2 and module[0] == "services" else "common"
    return f"{owner}.{cls.__name__}"


def _new_spec(title, description):
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(title=title, version=DOC_VERSION, openapi_version=OPENAPI_VERSION, plugins=[plugin],
                   info={"description": description})
    return spec, plugin


def _component(spec, plugin, schema):
    """Register `schema` (and what it nests) once; its JSON schema dict."""
    name = _schema_name(schema)
    if name not in spec.components.schemas:
        spec.components.schema(name, schema=schema)
    return name, spec.components.schemas[name]


def _signature_parameters(fn):
    params = list(inspect.signature(inspect.unwrap(fn)).parameters.values())[1:]
    return [(p.name, p.default is inspect.Parameter.empty) for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def arguments_schema(spec, plugin, fn):
    """The JSON schema of a method's keyword arguments object."""
    schema, mapping = validated_by(fn)
    params = _signature_parameters(fn)
    properties, required = {}, [name for name, needed in params if needed]
    by_param = {}
    if schema is not None:
        name, converted = _component(spec, plugin, schema)
        if isinstance(mapping, str):
            by_param[mapping] = {"$ref": f"#/components/schemas/{name}"}
        else:
            mapping = mapping or {field: field for field in converted.get("properties", {})}
            for field, param in mapping.items():
                if field in converted.get("properties", {}):
                    by_param[param] = converted["properties"][field]
                    if field in converted.get("required", []) and param not in required:
                        required.append(param)
    for name, _ in params:
        properties[name] = by_param.get(name, {"description": "any JSON value (not checked by a schema)"})
    body = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        body["required"] = sorted(required)
    return body, schema is not None


def _error_schema():
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["type", "code", "message", "problems"],
            "properties": {
                "type": {"type": "string", "description": "exc_type of the wire: ValidationFailed, Forbidden, "
                                                          "NotFound, Conflict, ..."},
                "code": {"type": "string", "enum": sorted({c for _, c in ERROR_STATUS.values()}
                                                          | {"unauthorized", "too_large", "timeout",
                                                             "unavailable", "internal", "bad_json"})},
                "message": {"type": "string"},
                "problems": {"type": ["object", "null"],
                             "additionalProperties": {"type": "array", "items": {"type": "string"}},
                             "description": "ValidationFailed only: {field.path: [problem, ...]}, every problem"},
            },
        }},
    }


def openapi(service_classes, only=None):
    """The gateway's OpenAPI 3.1 document: POST /api/v1/<service>/<method>.
    `only(service, method)` filters what is offered."""
    spec, plugin = _new_spec(
        "OneWindow gateway",
        "Every RPC method of the OneWindow contract over HTTP. The request body is a JSON object of the "
        "method's arguments by name; the answer is the method's result JSON, or an error object. "
        "Generated from the marshmallow schemas the services validate with (make api-docs).")
    spec.components.security_scheme("token", {"type": "http", "scheme": "bearer",
                                              "description": "a token from `onewindow principal token NAME`"})
    spec.components.schema("Error", _error_schema())
    statuses = {400: "ValidationFailed (problems lists every one), IncorrectSignature, MalformedRequest or a "
                     "body that is not a JSON object",
                401: "no token, or a revoked or unknown one",
                403: "Forbidden: the principal may not make this call",
                404: "NotFound, or no such method (method_not_found)",
                409: "Conflict: the state does not allow it, or the idempotency key was used for another request",
                413: "the body is larger than the gateway's limit",
                500: "a fault of the service; retry later with the same idempotency key",
                503: "the service did not answer in time or is not running"}
    for cls in sorted(service_classes, key=lambda c: c.name):
        for method, fn in sorted(rpc_methods(cls)):
            if only is not None and not only(cls.name, method):
                continue
            body, checked = arguments_schema(spec, plugin, fn)
            doc = inspect.getdoc(inspect.unwrap(fn)) or ""
            operation = {
                "operationId": f"{cls.name}.{method}",
                "tags": [cls.name],
                "summary": f"{cls.name}.{method}",
                "description": doc + ("" if checked else "\n\nArguments are not checked by a marshmallow schema "
                                                         "at the entrypoint."),
                "security": [{"token": []}],
                "parameters": [{"name": "X-Request-Id", "in": "header", "required": False,
                                "schema": {"type": "string", "maxLength": 200},
                                "description": "echoed in the answer; made up when absent"}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {"description": "the method's result", "content": {"application/json": {"schema": {}}}},
                    **{str(status): {"description": text, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}} for status, text in statuses.items()},
                },
            }
            spec.path(path=f"{API_PREFIX}/{cls.name}/{method}", operations={"post": operation})
    return spec.to_dict()


def asyncapi(service_classes):
    """AsyncAPI 3 document of every event the services emit or consume."""
    spec, plugin = _new_spec("OneWindow events", "")
    consumers = {}
    for cls in service_classes:
        for source, event_type, fn in event_consumers(cls):
            schema, _ = validated_by(fn, any_argument=True)
            consumers.setdefault((source, event_type), []).append((cls.name, schema))
    events = set(consumers)
    for cls in service_classes:
        events |= {(cls.name, event_type) for event_type in emitted_events(cls)}
    envelope = {"type": "object", "required": ["event_id", "occurred_at"], "properties": {
        "event_id": {"type": "string", "description": "unique; consumers are idempotent on it"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "application_no": {"type": "string"}}}
    channels, operations, messages = {}, {}, {}
    for source, event_type in sorted(events):
        key = f"{source}.{event_type}"
        parts = [envelope]
        readers = []
        for consumer, schema in sorted(consumers.get((source, event_type), []), key=lambda c: c[0]):
            readers.append(consumer)
            if schema is not None:
                name, _ = _component(spec, plugin, schema)
                parts.append({"$ref": f"#/components/schemas/{name}"})
        messages[key] = {
            "name": event_type,
            "title": key,
            "summary": f"{event_type}, published by {source}"
                       + (f"; consumed by {', '.join(sorted(set(readers)))}" if readers else ""),
            "contentType": "application/json",
            "payload": {"allOf": parts} if len(parts) > 1 else envelope,
        }
        channels[key] = {
            "address": event_type,
            "description": f"routing key {event_type} on the topic exchange {source}.events "
                           f"(see docs/events.md)",
            "messages": {event_type: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": {
                "name": f"{source}.events", "type": "topic", "durable": True, "autoDelete": False}}},
        }
        operations[f"{key}.publish"] = {"action": "send", "channel": {"$ref": f"#/channels/{key}"},
                                        "summary": f"{source} publishes {event_type} through its outbox"}
    schemas = spec.to_dict().get("components", {}).get("schemas", {})
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "OneWindow events", "version": DOC_VERSION,
                 "description": "Events published by the services' outboxes to the topic exchanges "
                                "<service>.events, routing key the event type, JSON bodies. Payloads are "
                                "generated from the marshmallow schemas of the handlers that consume them "
                                "(make api-docs)."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render(document):
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
