"""Redaction for sharing a review: emails, phone numbers and secrets replaced by placeholders.

What is replaced, in this order (so a token is never half-eaten by the phone rule):

1. private key blocks, JWTs and vendor tokens with a recognisable shape (Slack ``xox?-``,
   GitHub ``ghp_``/``github_pat_``, GitLab ``glpat-``, AWS ``AKIA…``, Stripe ``sk_live_``,
   Google ``AIza…``, npm, PyPI, SendGrid, Twilio ``SK…``) and Slack webhook URLs
   → ``[secret]``;
2. ``Authorization:`` headers and ``Bearer …`` tokens → the scheme is kept, the credential
   becomes ``[secret]``;
3. passwords in URLs: ``https://user:pass@host`` → ``https://user:[REDACTED]@host``;
4. ``name=value`` / ``name: value`` / ``"name": "value"`` where the name says it holds a
   credential (``password``, ``secret``, ``token``, ``api_key``, ``accessToken``,
   ``client_secret``…; bare ``key``, ``sig``, ``auth`` only as URL query parameters)
   → the value becomes ``[secret]``;
5. email addresses → ``[email]``;
6. phone numbers → ``[phone]``: international (``+44 20 7946 0958``, ``+1-415-555-0132``,
   ``+4915112345678``), North American (``(415) 555-0132``, ``415-555-0132``), national
   numbers with a trunk ``0`` and grouped digits (``020 7946 0958``, ``06 12 34 56 78``),
   and any digit run labelled ``phone``/``tel``/``mobile``/``cell``/``sms``.

Left alone on purpose: timestamps and dates, durations, epoch and Slack ``ts`` numbers,
incident ids and numbers, version strings, UUIDs, hashes, ports and IP addresses. IP
addresses are how responders name hosts in a review, so they stay unless ``ip_addresses=True``
asks for them to become ``[ip]``. Names of people are not redacted (they are the review's
subject, and no pattern can tell them apart).

>>> redact("page alice@example.com or +1 415-555-0132, token=ghp_" + "a" * 36)
'page [email] or [phone], token=[secret]'
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import pandas as pd

__all__ = [
    "EMAIL", "PHONE", "SECRET", "URL_PASSWORD", "IP", "is_sensitive_name", "redact",
    "redact_frame", "redact_value",
]

EMAIL = "[email]"
PHONE = "[phone]"
SECRET = "[secret]"
URL_PASSWORD = "[REDACTED]"
IP = "[ip]"
_PLACEHOLDERS = frozenset({EMAIL, PHONE, SECRET, URL_PASSWORD, IP})

# --- 1. secrets with a recognisable shape ----------------------------------------------------
_SHAPED_SECRETS = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\Z)"
    r"|\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"        # JWT
    r"|\bxox[abposre]-[A-Za-z0-9-]{10,}"                                     # Slack tokens
    r"|\bxapp-\d-[A-Za-z0-9-]{10,}"                                          # Slack app token
    r"|https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}"                                         # GitHub
    r"|\bgithub_pat_[A-Za-z0-9_]{22,}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}"                                           # GitLab
    r"|\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|A3T[A-Z0-9])[A-Z0-9]{16}\b"  # AWS key id
    r"|\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"                          # Stripe
    r"|\bwhsec_[A-Za-z0-9]{20,}"
    r"|\bAIza[0-9A-Za-z_-]{35}"                                              # Google API key
    r"|\bnpm_[A-Za-z0-9]{36}\b"
    r"|\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}"
    r"|\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"                        # SendGrid
    r"|\bSK[0-9a-fA-F]{32}\b",                                               # Twilio API key
    re.DOTALL,
)

# --- 2. Authorization headers and bearer tokens ----------------------------------------------
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authori[sz]ation[\"']?[ \t]*[:=][ \t]*[\"']?)"
    r"(?:(bearer|basic|digest|token|negotiate|apikey|aws4-hmac-sha256|hmac|ntlm)[ \t]+)?"
    r"([^\s\"',;]+(?:,[ \t]*[A-Za-z]+=[^\s\"',;]+)*)")
# A bearer credential (RFC 6750 token68) holds a digit or is long; "the bearer of bad
# news" is prose, not a token.
_BEARER = re.compile(
    r"(?i)\b(bearer)[ \t]+(?=[A-Za-z0-9._~+/-]*\d|[A-Za-z0-9._~+/-]{20})([A-Za-z0-9._~+/-]{8,}=*)")

# --- 3. credentials inside URLs ---------------------------------------------------------------
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):([^@/\s]+)@")

# --- 4. name = value pairs whose name says "credential" ----------------------------------------
# Only names holding a credential-like stem are candidates (the callback decides), so a
# "https:" or "at:" never swallows the text that follows it.
_PAIR = re.compile(
    r"(?<![\w.-])(?P<nq>[\"']?)"
    r"(?P<name>(?i:[A-Za-z][\w.-]{0,40}?|)(?i:pass|pwd|secret|token|key|sig|auth|credential|"
    r"cookie|session|dsn|connection|code|access)[\w.-]{0,40}?)(?P=nq)"
    r"(?P<sep>[ \t]*[:=][ \t]*)"
    r"(?:(?P<vq>[\"'])(?P<qvalue>[^\"'\n]*)(?P=vq)|(?P<value>[^\s\"'&,;<>()\[\]{}?]+))")
_STRONG_SUFFIXES = (
    "password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "accesskey",
    "secretkey", "privatekey", "signingkey", "encryptionkey", "masterkey", "signature",
    "credential", "credentials", "sessionid", "cookie", "dsn", "connectionstring",
)
# Too common in prose and logs to trust on their own; a URL query parameter is unambiguous.
_QUERY_ONLY_NAMES = frozenset({"key", "sig", "auth", "pass", "code", "access", "session"})

# --- 5. emails ----------------------------------------------------------------------------------
# Not followed by ":path/" so `git@github.com:org/repo` (an SSH remote) stays.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b(?!:[\w.~-]+/)")

# --- 6. phone numbers ---------------------------------------------------------------------------
# Each form must stand alone: not glued to letters, digits, dots, colons or slashes, so
# versions (1.24.3), times (10:04:12), dates (2024-03-01), offsets (+05:30, +0000) and ids
# never qualify. The digit count is checked afterwards.
_EDGE_BEFORE = r"(?<![\w.:/+@#=-])"
_EDGE_AFTER = r"(?![\w]|[.:/-]\d)"
_PHONE_INTERNATIONAL = re.compile(
    _EDGE_BEFORE.replace("+", "") + r"(?:\+|\b00)\d{1,3}(?:[ .-]?\(0\))?"
    r"(?:[ .-]?\(?\d{1,5}\)?)(?:[ .-]?\d{2,5}){1,5}" + _EDGE_AFTER)
_PHONE_NANP = re.compile(
    _EDGE_BEFORE + r"(?:1[ .-])?(?:\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}([ .-])\d{3}\1\d{4})"
    + _EDGE_AFTER)
_PHONE_TRUNK = re.compile(
    _EDGE_BEFORE + r"(?:0\d{1,4}(?:[ -]\d{2,4}){2,4}|0\d{2,4}[ -]\d{6,8}|0\d(?:\.\d{2}){4})"
    + _EDGE_AFTER)
_PHONE_LABELLED = re.compile(
    r"(?i)\b(phone|tel|telephone|mobile|cell|sms|whatsapp|fax)\b(\s*(?:no\.?|number|#)?"
    r"\s*[:=#-]?\s*)(\+?\(?\d[\d ().-]{5,}\d)")
_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
                   r"(?:/\d{1,2})?(?![\w.]*\d)")
# Candidates only; a full address has seven colons, a compressed one a single "::", so
# clock times (10:04:12) never qualify.
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def is_sensitive_name(name: str, *, in_query: bool = False) -> bool:
    """True when a field, parameter or header name says its value is a credential.

    >>> is_sensitive_name("client_secret"), is_sensitive_name("accessToken")
    (True, True)
    >>> is_sensitive_name("max_tokens"), is_sensitive_name("token_type"), is_sensitive_name("key")
    (False, False, False)
    """
    compact = re.sub(r"[^a-z0-9]", "", name.lower())
    if not compact:
        return False
    if compact.endswith(_STRONG_SUFFIXES) or compact in {"authorization", "apikeys"}:
        return True
    return in_query and compact in _QUERY_ONLY_NAMES


def _pair(match: re.Match[str]) -> str:
    value = match.group("qvalue") if match.group("vq") else match.group("value")
    if value is None or value == "" or value in _PLACEHOLDERS:
        return match.group(0)
    name = match.group("name")
    if re.sub(r"[^a-z]", "", name.lower()) in ("authorization", "proxyauthorization"):
        return match.group(0)  # the header rule has already kept its scheme and hidden the rest
    before = match.string[match.start() - 1] if match.start() > 0 else ""
    in_query = before in "?&;" and "=" in match.group("sep")
    if not is_sensitive_name(name, in_query=in_query):
        return match.group(0)
    head = match.group(0)[: match.start("vq" if match.group("vq") else "value") - match.start()]
    quote = match.group("vq") or ""
    return f"{head}{quote}{SECRET}{quote}"


def _auth_header(match: re.Match[str]) -> str:
    scheme = match.group(2)
    if match.group(3) in _PLACEHOLDERS:
        return match.group(0)
    return f"{match.group(1)}{scheme + ' ' if scheme else ''}{SECRET}"


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _phone(low: int, high: int):
    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        digits = _digits(text)
        # "+12345678 rows" is a count; an unseparated international number is E.164-long.
        if text.startswith("+") and text[1:].isdigit() and digits < 10:
            return text
        if text.startswith("00") and digits < 11:  # "00" dials out: 00 + a full number
            return text
        return PHONE if low <= digits <= high else text
    return replace


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    full = text.count(":") == 7 and "::" not in text
    compressed = text.count("::") == 1 and text.count(":") <= 7
    return IP if (full or compressed) and any(c not in ":" for c in text) else text


def _labelled_phone(match: re.Match[str]) -> str:
    if 7 <= _digits(match.group(3)) <= 15:
        return f"{match.group(1)}{match.group(2)}{PHONE}"
    return match.group(0)


def redact(text: str, *, ip_addresses: bool = False) -> str:
    """``text`` with emails, phone numbers and secrets replaced (module docs list the rules).

    Idempotent: redacting twice gives the same text. Non-text values are returned unchanged.

    >>> redact("db: postgres://app:hunter2@db.internal:5432/shop")
    'db: postgres://app:[REDACTED]@db.internal:5432/shop'
    >>> redact("deployed v2.14.0 at 2024-03-01T10:04:12Z to 10.0.3.7, 1,500 ms p99")
    'deployed v2.14.0 at 2024-03-01T10:04:12Z to 10.0.3.7, 1,500 ms p99'
    """
    if not isinstance(text, str) or not text:
        return text
    out = _SHAPED_SECRETS.sub(SECRET, text)
    out = _AUTH_HEADER.sub(_auth_header, out)
    out = _BEARER.sub(lambda m: f"{m.group(1)} {SECRET}", out)
    out = _URL_PASSWORD.sub(
        lambda m: m.group(0) if m.group(2) == URL_PASSWORD else f"{m.group(1)}:{URL_PASSWORD}@",
        out)
    out = _PAIR.sub(_pair, out)
    out = _EMAIL.sub(EMAIL, out)
    out = _PHONE_LABELLED.sub(_labelled_phone, out)
    out = _PHONE_INTERNATIONAL.sub(_phone(8, 15), out)
    out = _PHONE_NANP.sub(_phone(10, 11), out)
    out = _PHONE_TRUNK.sub(_phone(9, 12), out)
    if ip_addresses:
        out = _IPV4.sub(IP, out)
        out = _IPV6.sub(_ipv6, out)
    return out


def redact_value(obj: Any, *, ip_addresses: bool = False) -> Any:
    """Every text inside ``obj`` redacted: strings, and recursively dicts, lists, tuples,
    sets, Series and DataFrames. A dict entry whose key names a credential (``password``,
    ``api_key``…) has its text value replaced outright. Other values come back unchanged.
    """
    if isinstance(obj, str):
        return redact(obj, ip_addresses=ip_addresses)
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if isinstance(key, str) and isinstance(value, str) and value \
                    and is_sensitive_name(key):
                out[key] = SECRET
            else:
                out[key] = redact_value(value, ip_addresses=ip_addresses)
        return out
    if isinstance(obj, pd.DataFrame):
        text_columns = [c for c in obj.columns if not pd.api.types.is_numeric_dtype(obj[c])
                        and not pd.api.types.is_datetime64_any_dtype(obj[c])]
        return redact_frame(obj, text_columns, ip_addresses=ip_addresses)
    if isinstance(obj, pd.Series):
        return _redact_series(obj, ip_addresses)
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [redact_value(v, ip_addresses=ip_addresses) for v in obj]
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
            return type(obj)(*items)
        return type(obj)(items)
    return obj


def _redact_series(series: pd.Series, ip_addresses: bool) -> pd.Series:
    # Actors and repeated bot messages recur: redact each distinct text once.
    values = series.astype(object)
    is_text = values.map(lambda v: isinstance(v, str)).astype(bool)
    if not is_text.any():
        return series.copy()
    distinct = pd.unique(values[is_text])
    cleaned = {v: redact(v, ip_addresses=ip_addresses) for v in distinct}
    out = values.copy()
    out[is_text] = values[is_text].map(cleaned)
    return out.astype(series.dtype) if pd.api.types.is_string_dtype(series.dtype) else out


def redact_frame(df: pd.DataFrame, columns: Iterable[str] = ("summary", "actor", "target"), *,
                 ip_addresses: bool = False) -> pd.DataFrame:
    """A copy of ``df`` with the text of ``columns`` redacted; named columns the frame does
    not have are skipped, so one call serves events, gaps and action-item frames alike.
    """
    out = df.copy()
    for column in columns:
        if column in out.columns:
            out[column] = _redact_series(out[column], ip_addresses)
    return out
