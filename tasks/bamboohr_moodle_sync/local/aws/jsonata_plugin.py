"""Plugs jsonata-python into moto's Step Functions interpreter, which ships without a JSONata evaluator.

``install()`` is idempotent. Besides wiring the evaluator it fixes two gaps of moto 5.2.5 that JSONata
machines hit: string variables are spliced into expressions unescaped (a ``Cause`` holding JSON breaks the
expression), and ``$uuid()``/``$hash()`` are stubs returning a constant message.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from typing import Any

_lock = threading.Lock()
_installed = False


def evaluate(expression: str) -> Any:
    """Evaluates one self-contained JSONata expression (moto prepends the variable declarations)."""
    import jsonata
    from moto.stepfunctions.parser.asl.jsonata.jsonata import JSONataException

    try:
        program = jsonata.Jsonata(expression)
        program.register_lambda("uuid", lambda: str(uuid.uuid4()))
        program.register_lambda("hash", _hash)
        return program.evaluate(None)
    except Exception as exc:  # moto maps JSONataException to States.QueryEvaluationError
        raise JSONataException("UNKNOWN", str(exc)) from exc


def _hash(value: str, algorithm: str) -> str:
    names = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
    return hashlib.new(names[algorithm], value.encode("utf-8")).hexdigest()


def _encode_declarations(bindings: dict[str, Any]) -> str:
    """moto's encoder, with strings JSON-escaped: ``$name:=<json>;`` per binding."""
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str  # datetimes as ISO-8601

    return "".join(f"{name}:={to_json_str(value, separators=(',', ':'))};" for name, value in bindings.items())


def install() -> None:
    """Wires the evaluator into moto (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as intrinsic
        from moto.stepfunctions.parser.asl.eval import states, variable_store
        from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

        moto_jsonata._eval_jsonata = evaluate
        modules: list[Any] = [moto_jsonata, states, variable_store]
        for module in modules:
            module.encode_jsonata_variable_declarations = _encode_declarations
        for stub in ("$uuid", "$hash"):
            intrinsic._DECLARATION_BY_VARIABLE_REFERENCE.pop(stub, None)
        _installed = True
