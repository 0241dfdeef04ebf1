"""Check Stripe traffic against the pinned ``stripe`` library's own types.

The stand-in (tools.stripe_standin) and the platform could agree with each
other where real Stripe does not. This module is the referee: the pinned
``stripe`` library (15.x, API ``2026-08-26.dahlia``) is generated from
Stripe's OpenAPI spec at that version, so

* every request the platform sends is checked against the request-params
  TypedDict of the method the library would call for that endpoint
  (``SessionCreateParams`` for ``POST /v1/checkout/sessions``, ...): unknown
  params, wrong wire types, enum values outside the ``Literal``;
* every object the stand-in answers or delivers in an event is checked
  against the resource class registered for its ``object`` in the library's
  ``OBJECT_CLASSES``: fields the class does not declare, wrong types, enum
  values outside the declared ``Literal`` (the library adds ``| str`` for
  forward compatibility; at the pinned version the literal list is the spec),
  ``null`` where the annotation is not ``Optional``.

Both maps are built from the library itself (the services' ``_request``
calls, parsed with ``ast``, and ``OBJECT_CLASSES``), never by hand. The only
hand-kept table is :data:`INCLUDABLE_FIELDS`: fields the library declares but
Stripe only sends when asked with ``expand[]`` (the types cannot say that).

A finding is a short string; an empty list means the traffic conforms.
"""

from __future__ import annotations

import ast
import dataclasses
import decimal
import functools
import importlib
import pathlib
import re
import typing
from typing import Any, ForwardRef

import stripe
import typing_extensions
from stripe._expandable_field import ExpandableField  # noqa: F401 (eval namespace)
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._request_options import RequestOptions
from stripe._stripe_object import StripeObject, UntypedStripeObject

PINNED_API_VERSION = stripe.api_version

# Fields the library types declare but Stripe sends only when the request
# expands them; a webhook payload can never be expanded.
# charge.refunds: no longer included by default since 2022-11-15
#   (https://docs.stripe.com/upgrades#2022-11-15 "The refunds property on
#   Charges is no longer expanded by default").
# checkout.session.line_items: "This field is not included by default. To
#   include it in the response, expand the line_items field."
#   (https://docs.stripe.com/api/checkout/sessions/object#checkout_session_object-line_items)
# customer.sources / customer.subscriptions / customer.tax_ids: includable
#   since 2020-08-27 (https://docs.stripe.com/upgrades#2020-08-27).
INCLUDABLE_FIELDS: dict[str, frozenset[str]] = {
    "charge": frozenset({"refunds"}),
    "checkout.session": frozenset({"line_items"}),
    "customer": frozenset({"sources", "subscriptions", "tax_ids"}),
}

_NONE = type(None)
_SITE = pathlib.Path(stripe.__file__).parent


# ---------------------------------------------------------------------------
# Type plumbing
# ---------------------------------------------------------------------------


@functools.cache
def _class_by_name() -> dict[str, type]:
    out: dict[str, type] = {}
    for module_name, class_name in OBJECT_CLASSES.values():
        out.setdefault(class_name, (module_name, class_name))  # type: ignore[arg-type]
    return out


def _resource_class(name: str) -> type | None:
    """A resource class by its class name ("Account"), imported lazily."""
    entry = _class_by_name().get(name) or _class_by_name().get(name.removesuffix("Resource"))
    if entry is None:
        return None
    module_name, class_name = entry  # type: ignore[misc]
    return getattr(importlib.import_module(module_name), class_name)


def object_class(object_name: str) -> type | None:
    """The library's resource class for an ``object`` value ("charge" -> Charge)."""
    entry = OBJECT_CLASSES.get(object_name)
    if entry is None:
        return None
    return getattr(importlib.import_module(entry[0]), entry[1])


class _Namespace(dict):
    """eval() namespace for forward references: the defining module's globals,
    typing's names, then resource classes by name."""

    def __init__(self, module_globals: dict):
        super().__init__(module_globals)
        for name in ("Dict", "List", "Optional", "Union", "Any", "Mapping"):
            self.setdefault(name, getattr(typing, name))
        self.setdefault("Literal", typing_extensions.Literal)
        self.setdefault("UntypedStripeObject", UntypedStripeObject)
        self.setdefault("ListObject", ListObject)

    def __missing__(self, key: str) -> Any:
        cls = _resource_class(key)
        if cls is None:
            raise KeyError(key)
        return cls


def _resolve(tp: Any, owner: Any) -> Any:
    """Turn a ForwardRef / string annotation into a real type (or Any),
    remembered: a big listing checks the same annotations thousands of times."""
    try:
        return _resolve_cached(tp, owner)
    except TypeError:  # an unhashable annotation
        return _resolve_now(tp, owner)


@functools.cache
def _resolve_cached(tp: Any, owner: Any) -> Any:
    return _resolve_now(tp, owner)


def _resolve_now(tp: Any, owner: Any) -> Any:
    if isinstance(tp, str):
        tp = ForwardRef(tp)
    if isinstance(tp, ForwardRef):
        module = importlib.import_module(getattr(owner, "__module__", "stripe"))
        namespace = _Namespace(vars(module))
        # Nested classes of the owner (e.g. Session.AutomaticTax) by bare name.
        for klass in getattr(owner, "__mro__", ()):
            namespace.update({k: v for k, v in vars(klass).items() if isinstance(v, type)})
        try:
            return eval(tp.__forward_arg__, namespace)  # noqa: S307 - library annotations only
        except Exception:  # noqa: BLE001 - unresolvable: accept anything
            return Any
    return tp


def _strip_required(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.NotRequired, typing.Required, typing_extensions.NotRequired):
        return typing.get_args(tp)[0]
    return tp


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and typing_extensions.is_typeddict(tp)


_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)


def _typeddict_fields(cls: type) -> dict[str, Any]:
    return {k: v for k, v in cls.__annotations__.items() if k not in _REQUEST_OPTION_KEYS}


@functools.cache
def _class_fields(cls: type) -> dict[str, Any]:
    """Declared fields of a StripeObject subclass (wire names, own + inherited)."""
    fields: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, dict) or not issubclass(klass, StripeObject):
            continue
        for name, tp in vars(klass).get("__annotations__", {}).items():
            if typing.get_origin(tp) is typing.ClassVar or name.startswith("_"):
                continue
            fields[name] = (tp, klass)
    remap = getattr(cls, "_field_remappings", {}) or {}
    return {remap.get(name, name): value for name, value in fields.items()}


def _show(tp: Any) -> str:
    text = repr(tp).replace("typing.", "").replace("typing_extensions.", "")
    return re.sub(r"<class '([\w.]+)'>", lambda m: m.group(1).rsplit(".", 1)[-1], text)


# ---------------------------------------------------------------------------
# Requests: endpoint -> params TypedDict, from the library's services
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str  # "GET" | "POST" | "DELETE"
    template: str  # "/v1/checkout/sessions/{session}"
    params_module: str
    params_class: str
    regex: re.Pattern = dataclasses.field(compare=False)

    def params_type(self) -> type:
        return getattr(importlib.import_module(self.params_module), self.params_class)


def _param_annotation_name(func: ast.FunctionDef) -> str | None:
    for arg in func.args.args:
        if arg.arg != "params" or arg.annotation is None:
            continue
        node = arg.annotation
        if isinstance(node, ast.Subscript):  # Optional["XParams"]
            node = node.slice
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
    return None


def _request_call(func: ast.FunctionDef) -> tuple[str, str] | None:
    for node in ast.walk(func):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_request"
            and len(node.args) >= 2
        ):
            continue
        method, path = node.args[0], node.args[1]
        if isinstance(path, ast.Call) and isinstance(path.func, ast.Attribute):
            path = path.func.value  # "/v1/x/{id}".format(...)
        if isinstance(method, ast.Constant) and isinstance(path, ast.Constant):
            return str(method.value).upper(), str(path.value)
    return None


@functools.cache
def endpoints() -> tuple[Endpoint, ...]:
    """Every v1 endpoint the library's services call, with its params TypedDict."""
    found: dict[tuple[str, str], Endpoint] = {}
    for file in sorted(_SITE.rglob("_*_service.py")):
        if "v2" in file.relative_to(_SITE).parts:
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        imports = {
            alias.asname or alias.name: node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
        }
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            name = _param_annotation_name(func)
            call = _request_call(func)
            if name is None or call is None or name not in imports:
                continue
            method, template = call
            if not template.startswith("/v1/"):
                continue
            pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
            found.setdefault(
                (method, template),
                Endpoint(method, template, imports[name], name, re.compile(pattern)),
            )
    # Literal paths win over templated ones ("/v1/accounts/{account}" vs a
    # hypothetical literal sibling), then longer templates first.
    return tuple(sorted(found.values(), key=lambda e: (e.template.count("{"), -len(e.template))))


def endpoint_for(method: str, path: str) -> Endpoint | None:
    for endpoint in endpoints():
        if endpoint.method == method and endpoint.regex.fullmatch(path):
            return endpoint
    return None


def check_request(
    method: str, path: str, params: dict, headers: dict[str, str] | None = None
) -> list[str]:
    """Findings for one request (params as decoded from the form/query)."""
    where = f"{method} {path}"
    endpoint = endpoint_for(method, path)
    if endpoint is None:
        return [f"{where}: no such endpoint in stripe {stripe.VERSION}"]
    findings: list[str] = []
    _check_param(params, endpoint.params_type(), "", findings, endpoint.params_type())
    headers = headers or {}
    version = headers.get("Stripe-Version")
    if version is not None and version != PINNED_API_VERSION:
        findings.append(f"header Stripe-Version={version!r}, pinned is {PINNED_API_VERSION!r}")
    account = headers.get("Stripe-Account")
    if account is not None and not re.fullmatch(r"acct_\w+", account):
        findings.append(f"header Stripe-Account={account!r} is not an account id")
    return [f"{where}: {f}" for f in findings]


def _param_name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _check_param(value: Any, tp: Any, name: str, out: list[str], owner: Any) -> None:
    tp = _resolve(_strip_required(tp), owner)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    shown = name or "params"
    if tp is Any or tp is object:
        return
    if origin is typing.Union or (origin is not None and str(origin) == "types.UnionType"):
        arms = [_resolve(a, owner) for a in args if a is not _NONE]
        if str in arms and any(typing.get_origin(a) is typing.Literal for a in arms):
            # "Literal[...]|str": the library's forward-compatibility escape;
            # at the pinned version the literals are the spec.
            arms.remove(str)
        for arm in arms:
            trial: list[str] = []
            _check_param(value, arm, name, trial, owner)
            if not trial:
                return
        # One arm is a hash and the value is a hash: its findings say more.
        for arm in arms:
            if _is_typeddict(arm) and isinstance(value, dict):
                _check_param(value, arm, name, out, owner)
                return
        out.append(f"{shown}={_brief(value)} is not {_show(tp)}")
        return
    if origin in (typing.Literal, typing_extensions.Literal):
        allowed = {_wire(v) for v in args}
        if not isinstance(value, str) or value not in allowed:
            out.append(f"{shown}={_brief(value)} is not one of {sorted(allowed)}")
        return
    if _is_typeddict(tp):
        if not isinstance(value, dict):
            out.append(f"{shown}={_brief(value)} is not a hash ({tp.__name__})")
            return
        fields = _typeddict_fields(tp)
        for key, sub in value.items():
            if key not in fields:
                out.append(f"unknown param {_param_name(name, key)} ({tp.__name__})")
                continue
            _check_param(sub, fields[key], _param_name(name, key), out, tp)
        required = getattr(tp, "__required_keys__", frozenset()) - _REQUEST_OPTION_KEYS
        for key in sorted(required - set(value)):
            out.append(f"missing required param {_param_name(name, key)}")
        return
    if origin in (list, list):
        if not isinstance(value, list):
            out.append(f"{shown}={_brief(value)} is not an array")
            return
        for i, item in enumerate(value):
            _check_param(item, args[0] if args else Any, f"{name}[{i}]", out, owner)
        return
    if origin in (dict, dict, typing.Mapping) or (
        isinstance(origin, type) and issubclass(origin, UntypedStripeObject)
    ):
        if not isinstance(value, dict):
            out.append(f"{shown}={_brief(value)} is not a hash")
            return
        value_tp = args[-1] if args else Any
        for key, sub in value.items():
            _check_param(sub, value_tp, _param_name(name, key), out, owner)
        return
    if tp is str:
        if not isinstance(value, str):
            out.append(f"{shown}={_brief(value)} is not a string")
    elif tp is bool:
        if value not in ("true", "false"):
            out.append(f"{shown}={_brief(value)} is not a boolean")
    elif tp is int:
        if not (isinstance(value, str) and re.fullmatch(r"-?\d+", value)):
            out.append(f"{shown}={_brief(value)} is not an integer")
    elif tp in (float, decimal.Decimal):
        if not (isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value)):
            out.append(f"{shown}={_brief(value)} is not a number")


def _wire(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, int) else v


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------
# Responses and events: object -> resource class
# ---------------------------------------------------------------------------


def check_object(obj: Any, *, expanded: frozenset[str] = frozenset(), where: str = "") -> list[str]:
    """Findings for one API object as Stripe would send it (a JSON-decoded dict).

    ``expanded``: dotted paths the request asked to expand (``expand[]``);
    includable fields are allowed only there.
    """
    out: list[str] = []
    _check_value(obj, Any, "", out, None, expanded)
    prefix = f"{where}: " if where else ""
    return [prefix + f for f in out]


def check_event(event: dict) -> list[str]:
    """An event and the object it carries (payloads are never expanded)."""
    where = f"event {event.get('type')} {event.get('id')}"
    # data.object is typed "any object" in Event.Data; _check_value checks it
    # against its own resource class through its "object" value.
    return check_object(event, where=where)


def _check_value(
    value: Any, tp: Any, path: str, out: list[str], owner: Any, expanded: frozenset[str]
) -> None:
    tp = _resolve(tp, owner)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    label = path or "object"

    if isinstance(value, dict) and isinstance(value.get("object"), str):
        cls = object_class(value["object"])
        if cls is not None:
            if cls is ListObject:
                _check_list(value, args[0] if args else Any, path, out, owner, expanded)
            else:
                _check_stripe_object(value, cls, path, out, expanded)
            return

    if origin is typing.Union or (origin is not None and str(origin) == "types.UnionType"):
        optional = _NONE in args
        arms = [_resolve(a, owner) for a in args if a is not _NONE]
        if value is None:
            if not optional:
                out.append(f"{label} is null; the library's type {_show(tp)} is not Optional")
            return
        literals = [a for a in arms if typing.get_origin(a) in (typing.Literal,)]
        if literals:
            # Union[Literal[...], str]: at the pinned version the literals are the spec.
            allowed = {v for lit in literals for v in typing.get_args(lit)}
            if isinstance(value, (dict, list)) or value not in allowed:
                out.append(f"{label}={_brief(value)} is not one of {sorted(map(str, allowed))}")
            return
        for arm in arms:
            trial: list[str] = []
            _check_value(value, arm, path, trial, owner, expanded)
            if not trial:
                return
        structured = [a for a in arms if a not in (str, int, bool, float)]
        if isinstance(value, dict) and structured:
            _check_value(value, structured[-1], path, out, owner, expanded)
            return
        out.append(f"{label}={_brief(value)} is not {_show(tp)}")
        return

    if value is None:
        if tp is not Any:
            out.append(f"{label} is null; the library's type {_show(tp)} is not Optional")
        return
    if tp is Any:
        return
    if origin in (typing.Literal,):
        if isinstance(value, (dict, list)) or value not in args:
            out.append(f"{label}={_brief(value)} is not one of {sorted(map(str, args))}")
        return
    if (isinstance(tp, type) and issubclass(tp, ListObject)) or origin is ListObject:
        _check_list(value, args[0] if args else Any, path, out, owner, expanded)
        return
    if (isinstance(origin, type) and issubclass(origin, UntypedStripeObject)) or (
        tp is UntypedStripeObject
    ):
        if not isinstance(value, dict):
            out.append(f"{label}={_brief(value)} is not an object")
        return
    if isinstance(tp, type) and issubclass(tp, StripeObject):
        if not isinstance(value, dict):
            out.append(f"{label}={_brief(value)} is not an object ({tp.__name__})")
            return
        _check_stripe_object(value, tp, path, out, expanded)
        return
    if origin in (list, list):
        if not isinstance(value, list):
            out.append(f"{label}={_brief(value)} is not an array")
            return
        for i, item in enumerate(value):
            _check_value(item, args[0] if args else Any, f"{path}[{i}]", out, owner, expanded)
        return
    if origin in (dict, dict):
        if not isinstance(value, dict):
            out.append(f"{label}={_brief(value)} is not an object")
            return
        for key, item in value.items():
            _check_value(item, args[-1] if args else Any, f"{path}.{key}", out, owner, expanded)
        return
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is decimal.Decimal:
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    else:
        ok = True
    if not ok:
        out.append(f"{label}={_brief(value)} is not {_show(tp)}")


def _check_list(
    value: Any, item_tp: Any, path: str, out: list[str], owner: Any, expanded: frozenset[str]
) -> None:
    label = path or "object"
    if not isinstance(value, dict) or value.get("object") != "list":
        out.append(f"{label}={_brief(value)} is not a list object")
        return
    for key in value:
        if key not in ("object", "data", "has_more", "url", "total_count"):
            out.append(f"{label}.{key} is not a field of a list object")
    if not isinstance(value.get("data"), list) or not isinstance(value.get("has_more"), bool):
        out.append(f"{label} needs data (array) and has_more (boolean)")
        return
    if not isinstance(value.get("url"), str):
        out.append(f"{label}.url is not a string")
    inner = frozenset(p.split(".", 1)[1] for p in expanded if p.startswith("data."))
    for i, item in enumerate(value["data"]):
        _check_value(item, item_tp, f"{path}.data[{i}]", out, owner, inner)


def _check_stripe_object(
    value: dict, cls: type, path: str, out: list[str], expanded: frozenset[str]
) -> None:
    fields = _class_fields(cls)
    object_name = value.get("object") if isinstance(value.get("object"), str) else None
    includable = INCLUDABLE_FIELDS.get(object_name or "", frozenset())
    prefix = f"{path}." if path else ""
    for key, item in value.items():
        if key not in fields:
            out.append(f"{prefix}{key}: not a field of {cls.__name__} in stripe {stripe.VERSION}")
            continue
        if key in includable and key not in {p.split(".", 1)[0] for p in expanded}:
            out.append(
                f"{prefix}{key}: {object_name}.{key} is only sent when expanded "
                "(and never in webhooks)"
            )
            continue
        tp, owner = fields[key]
        inner = frozenset(p.split(".", 1)[1] for p in expanded if p.startswith(f"{key}."))
        _check_value(item, tp, f"{prefix}{key}", out, owner, inner)


# ---------------------------------------------------------------------------
# Whole traffic of a stand-in
# ---------------------------------------------------------------------------


def _expand_paths(params: dict) -> frozenset[str]:
    expand = params.get("expand") or []
    if isinstance(expand, str):
        expand = [expand]
    return frozenset(p for p in expand if isinstance(p, str))


def _check_error(body: Any, where: str) -> list[str]:
    from stripe._error_object import ErrorObject

    if not isinstance(body, dict) or set(body) != {"error"}:
        return [f"{where}: an error answer is {{'error': {{...}}}}, got {_brief(body)}"]
    out: list[str] = []
    _check_stripe_object(body["error"], ErrorObject, "error", out, frozenset())
    return [f"{where}: {f}" for f in out]


def check_requests(exchanges: list) -> list[str]:
    """Findings about what the client sent (the platform's side)."""
    findings: list[str] = []
    for exchange in exchanges:
        method, path, params, headers = exchange.request
        findings += check_request(method, path, params, headers)
    return findings


def check_answers(exchanges: list, events: list[dict]) -> list[str]:
    """Findings about what the stand-in answered and delivered (its own side)."""
    findings: list[str] = []
    for exchange in exchanges:
        method, path, params, _headers = exchange.request
        where = f"answer to {method} {path}"
        if exchange.body is None:
            continue
        if exchange.status == 200:
            findings += check_object(exchange.body, expanded=_expand_paths(params), where=where)
        else:
            findings += _check_error(exchange.body, where)
    for event in events:
        findings += check_event(event)
    return findings


def audit(standin: Any) -> list[str]:
    """Every finding in a stand-in's recorded traffic: requests, answers, events."""
    exchanges = standin.exchanges
    return check_requests(exchanges) + check_answers(exchanges, standin.events)
