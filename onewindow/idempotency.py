"""Idempotency keys belong to a principal and to one request.

Every mutating call carries a key (`client_ref`, `payment_ref`, ...). The
first call with a key records, in the transaction of its effect, who sent it
and a fingerprint of the whole request; its result is kept beside them.

- the same principal repeating the same request gets the first result, and
  nothing runs again;
- the same key with a different request is `Conflict`;
- a key another principal already used is `Conflict`: never someone else's
  result (two window systems that both send `client_ref="1001"`).

A call that fails rolls back with its key, so the key stays free.
"""
import hashlib
import json

from psycopg.types.json import Jsonb

from .errors import Conflict
from .validation import wire


def key_of(arguments):
    """The idempotency key of a call from its bound arguments: an argument
    named `*_ref`, or the `client_ref` of an object argument (submit)."""
    for name, value in arguments.items():
        if name.endswith("_ref") and isinstance(value, str) and value:
            return value
    for value in arguments.values():
        if isinstance(value, dict) and isinstance(value.get("client_ref"), str) and value["client_ref"]:
            return value["client_ref"]
    return None


def fingerprint(arguments):
    raw = json.dumps(arguments, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _stored(key):
    """Keys are kept as their digest: any length fits the index."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def claim(unit, method, key, principal, arguments):
    """None when this call is the key's first (run it, then `keep`); else
    the first call's result. Conflict for another request or principal."""
    mark = fingerprint(arguments)
    fresh = unit.one("INSERT INTO idempotency_keys (method, key, principal, fingerprint) VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT DO NOTHING RETURNING key", (method, _stored(key), principal, mark))
    if fresh is not None:
        return None
    # waits for a first call still running, until it commits
    row = unit.one("SELECT principal, fingerprint, result FROM idempotency_keys WHERE method = %s AND key = %s "
                   "FOR UPDATE", (method, _stored(key)))
    if row["principal"] != principal:
        raise Conflict(f"the key {key[:100]!r} of {method} was used by another caller: choose your own")
    if row["fingerprint"] != mark:
        raise Conflict(f"the key {key[:100]!r} of {method} was used for a different request")
    return row["result"]


def once(unit, method, key, principal, arguments, work):
    """The result of `work()`, run by the key's first call only: a repeat
    gets the first result (claim, then keep). A first call that fails undoes
    the unit, its claim with it, so the key stays free even where the caller
    catches the error (a form that shows the refusal and commits)."""
    first = claim(unit, method, key, principal, arguments)
    if first is not None:
        return first
    try:
        result = wire(work())
    except Exception:
        unit.undo()
        raise
    keep(unit, method, key, result)
    return result


def keep(unit, method, key, result):
    """The result beside its key: the call's last statement, so it goes
    pipelined with the commit, one round trip for both."""
    unit.pipelined()
    unit.execute("UPDATE idempotency_keys SET result = %s WHERE method = %s AND key = %s",
                 (Jsonb(result), method, _stored(key)))
