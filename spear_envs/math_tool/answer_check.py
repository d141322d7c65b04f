"""Extract the final ``\\boxed{}`` answer and check it against the ground truth.

Two checkers:

* ``"math_verify"`` (default): mathematical equivalence. Integers are compared directly (``204``,
  ``204.0``, ``{,}``-grouped digits); anything else goes to math-verify, and to a small sympy
  comparison if math-verify is missing or fails. ``\\boxed{ 204 }``, ``\\boxed{x=204}`` or
  ``\\boxed{\\frac{1}{2}}`` against ``0.5`` count as right.
* ``"strict"``: the reference's rule. Keep the last 100 characters of the text, take the last balanced
  ``\\boxed{…}`` there, and compare its inner string to the ground truth with no normalisation.

math-verify can take unbounded time on adversarial input (``9^{9^{9^9}}``). On the main thread its own
``signal.alarm`` timeouts apply; elsewhere (where alarms are unavailable) an answer that looks like a
power tower or a huge factorial is not evaluated and counts as not equivalent.
"""

from __future__ import annotations

import re
import threading

CHECKERS = ("math_verify", "strict")
STRICT_WINDOW_CHARS = 100
MATH_VERIFY_TIMEOUT_S = 3
_BOXED = "\\boxed{"
_INTEGER = re.compile(r"[+-]?\d+(?:\.0*)?")
_SAFE_EXPR = re.compile(r"[0-9A-Za-z+\-*/() ]*(?:\d\.\d+[0-9A-Za-z+\-*/() ]*)*")
_EXPENSIVE = re.compile(r"\^.*\^|\^\{?\s*\d{4,}|\d{3,}\s*!|\\?factorial")


def last_boxed(text: str) -> str | None:
    """The inner string of the last ``\\boxed{…}`` with balanced braces, or None."""
    start = text.rfind(_BOXED)
    while start != -1:
        depth, i = 1, start + len(_BOXED)
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[start + len(_BOXED):i - 1]
        start = text.rfind(_BOXED, 0, start)
    return None


def extract_answer(text: str, checker: str = "math_verify") -> str | None:
    """The answer a checker reads from a final turn (``strict`` looks only at the last 100 chars)."""
    if checker == "strict":
        return last_boxed(text[-STRICT_WINDOW_CHARS:])
    return last_boxed(text)


def is_correct(answer: str | None, ground_truth: str, checker: str = "math_verify") -> bool:
    """Whether ``answer`` (a boxed string, or None) matches ``ground_truth`` under ``checker``."""
    if checker not in CHECKERS:
        raise ValueError(f"unknown answer checker {checker!r}; choose one of {CHECKERS}")
    if answer is None:
        return False
    if checker == "strict":
        return answer == ground_truth
    return equivalent(answer, ground_truth)


def equivalent(answer: str, ground_truth: str) -> bool:
    """Mathematical equivalence of two LaTeX/plain answers (integer fast path, math-verify, sympy)."""
    a, g = _as_integer(answer), _as_integer(ground_truth)
    if a is not None and g is not None:
        return a == g
    on_main = threading.current_thread() is threading.main_thread()
    expensive = bool(_EXPENSIVE.search(answer) or _EXPENSIVE.search(ground_truth))
    if expensive and not on_main:
        return answer.strip() == ground_truth.strip()
    try:
        return _math_verify(answer, ground_truth, timeout=MATH_VERIFY_TIMEOUT_S if on_main else None)
    except Exception:  # missing package or a parser failure: fall back to sympy
        return not expensive and sympy_equivalent(answer, ground_truth)


def _as_integer(text: str) -> str | None:
    """A canonical digit string (sign, no leading zeros) when ``text`` is an integer, else None.

    Compared as strings, not ``int``: Python refuses to convert more than 4300 digits, and an answer
    (or a problem file's ground truth) may have more."""
    cleaned = re.sub(r"\\[,!; ]|\{,\}|\s|\$", "", text).replace(",", "")
    cleaned = re.sub(r"^\\text\{(.*)\}$", r"\1", cleaned)
    if not _INTEGER.fullmatch(cleaned):
        return None
    digits = cleaned.split(".")[0]
    sign, digits = ("-" if digits[0] == "-" else ""), digits.lstrip("+-").lstrip("0") or "0"
    return digits if digits == "0" else sign + digits


def _math_verify(answer: str, ground_truth: str, timeout: int | None) -> bool:
    import logging

    from math_verify import LatexExtractionConfig, parse, verify
    from math_verify.errors import TimeoutException

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns when timeouts are off
    latex_only = [LatexExtractionConfig()]  # its plain-expression extractor would eval() the text
    try:
        gold = parse(f"\\boxed{{{ground_truth}}}", latex_only, parsing_timeout=timeout, raise_on_error=True)
        pred = parse(f"\\boxed{{{answer}}}", latex_only, parsing_timeout=timeout, raise_on_error=True)
    except TimeoutException:
        return False
    if not gold or not pred:
        raise ValueError("math-verify could not parse one side")
    try:
        return bool(verify(gold, pred, timeout_seconds=timeout, raise_on_error=True))
    except TimeoutException:  # a BaseException in math-verify
        return False


def sympy_equivalent(answer: str, ground_truth: str) -> bool:
    """Equivalence by sympy after a light LaTeX-to-Python rewrite; False when either side won't parse.

    ``parse_expr`` evaluates Python, so only digits, operators, brackets, single-letter symbols and
    ``sqrt``/``pi`` pass through to it; anything else counts as not equivalent.
    """
    import sympy
    from sympy.parsing.sympy_parser import implicit_multiplication, parse_expr, standard_transformations

    def to_expr(text: str):
        text = text.split("=")[-1]
        text = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", text)
        text = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", text)
        text = text.replace("\\pi", "pi").replace("\\cdot", "*").replace("\\times", "*").replace("^", "**")
        text = re.sub(r"\\left|\\right|\\!|\\,|\$", "", text).replace("{", "(").replace("}", ")")
        names = set(re.findall(r"[A-Za-z_]\w*", text))
        if not _SAFE_EXPR.fullmatch(text) or any(len(n) > 1 and n not in ("sqrt", "pi") for n in names):
            raise ValueError(f"not a plain expression: {text!r}")
        return parse_expr(text, transformations=standard_transformations + (implicit_multiplication,))

    try:
        diff = sympy.simplify(to_expr(answer) - to_expr(ground_truth))
        return diff == 0 or abs(complex(diff)) < 1e-9
    except Exception:
        return False
