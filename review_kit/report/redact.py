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

The provider shapes come first from detect-secrets (Yelp's maintained secret scanner: the
regular expressions of its AWS, Azure, Discord, GitHub, GitLab, JWT, Mailchimp, npm, OpenAI,
PyPI, SendGrid, Slack, Square, Stripe, Telegram, Twilio… detectors), then from the list
below for shapes it lacks (AWS secret access keys, Google keys, PagerDuty integration and
routing keys, chat webhooks, newer token prefixes); ``review-kit.toml`` adds more:
``[redact] patterns = ["…"]``.

People are redacted by ``Redactor``: every responder name and handle the review knows of
(actors, escalation targets, the commander, action-item owners, annotation authors) becomes
``Person 1``, ``Person 2``… in order of first appearance, the same placeholder wherever the
name appears (also inside messages), never one placeholder for two people.

Left alone on purpose: timestamps and dates, durations, epoch and Slack ``ts`` numbers,
incident ids and numbers, version strings, UUIDs, hashes, ports and IP addresses. IP
addresses are how responders name hosts in a review, so they stay unless ``ip_addresses=True``
asks for them to become ``[ip]``. ``redact`` alone knows no names; ``Redactor`` does.

>>> redact("page alice@example.com or +1 415-555-0132, token=ghp_" + "a" * 36)
'page [email] or [phone], token=[secret]'
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ..model import TARGET_SEPARATOR, target_people

__all__ = [
    "EMAIL", "PHONE", "SECRET", "URL_PASSWORD", "IP", "Redactor", "is_sensitive_name",
    "redact", "redact_frame", "redact_incident", "redact_value",
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
    r"|\bSK[0-9a-fA-F]{32}\b"                                                # Twilio API key
    r"|\bdop_v1_[0-9a-f]{64}\b"                                              # DigitalOcean
    r"|\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{32,}"                               # OpenAI, Anthropic
    r"|\bya29\.[0-9A-Za-z_-]{20,}"                                           # Google OAuth
    r"|\b\d{8,10}:AA[0-9A-Za-z_-]{33}\b"                                     # Telegram bot
    r"|https://(?:[\w-]+\.)*webhook\.office\.com/[^\s\"'<>]+"                # Teams webhook
    r"|https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[^\s\"'<>]+"
    r"|(?<=/integration/)[0-9a-fA-F]{32}\b"                                   # PagerDuty events URL
    r"|\bu\+[A-Za-z0-9_-]{18}\b",                                             # PagerDuty user token
    re.DOTALL,
)
# An AWS secret access key has no prefix: 40 characters of base64 mixing cases and digits
# (a git hash is 40 hex digits, never mixed case).
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# Keys named in prose: "routing key 0123…", "integration key: …" (PagerDuty, Opsgenie).
_NAMED_KEY = re.compile(
    r"(?i)\b((?:routing|integration|service|api|access|secret|account)[ _-]?key\b"
    r"[ \t]*(?:[:=#]|is)?[ \t]*[\"']?)([A-Za-z0-9+/_-]{16,}=*)")

# --- 2. Authorization headers and bearer tokens ----------------------------------------------
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authori[sz]ation[\"']?[ \t]*[:=][ \t]*[\"']?)"
    r"(?:(bearer|basic|digest|token|negotiate|apikey|api-key|aws4-hmac-sha256|hmac|ntlm|"
    r"geniekey|key|ssws|splunk|sso-key|dsn)[ \t]+)?"
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
    "routingkey", "integrationkey", "servicekey", "accountkey", "clientkey", "webhookurl",
)
# Too common in prose and logs to trust on their own; a URL query parameter is unambiguous.
_QUERY_ONLY_NAMES = frozenset({"key", "sig", "auth", "pass", "code", "access", "session"})

# --- 5. emails ----------------------------------------------------------------------------------
# Not followed by ":path/" so `git@github.com:org/repo` (an SSH remote) stays.
# Unicode letters are allowed on both sides (jürgen@bücher.de), and the "@" may arrive
# URL-encoded (``alice%40example.com`` in a query string or a mailto link).
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+?(?:@|%40)[^\W_](?:[\w-]*[^\W_])?"
    r"(?:\.[^\W_](?:[\w-]*[^\W_])?)*\.[^\W\d_]{2,24}\b(?!:[\w.~-]+/)")

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
# Ten digits unseparated: a North American number (area code and exchange start 2-9, so
# an epoch second, 1xxxxxxxxx, never is) or a national one with its trunk 0.
_PHONE_BARE = re.compile(_EDGE_BEFORE + r"(?:[2-9]\d{2}[2-9]\d{6}|0[1-9]\d{8,9})" + _EDGE_AFTER)
_PHONE_LABELLED = re.compile(
    r"(?i)\b(phone|tel|telephone|mobile|cell|sms|whatsapp|fax)\b(\s*(?:no\.?|number|#)?"
    r"\s*[:=#-]?\s*)(\+?\(?\d[\d ().-]{5,}\d)")
_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
                   r"(?:/\d{1,2})?(?![\w.]*\d)")
# Candidates only; a full address has seven colons, a compressed one a single "::", so
# clock times (10:04:12) never qualify.
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


# detect-secrets detectors left out: IP addresses are kept on purpose (see above), a private
# key is replaced whole by our own rule (the library's matches only its first line), and
# keyword detectors are the pair rule's job.
_LIBRARY_SKIPPED = frozenset({"IPPublicDetector", "PrivateKeyDetector", "KeywordDetector"})
# The library's shapes that carry their delimiters (Artifactory: ``(?:\s|=|:|"|^)AKC…``).
_DELIMITERS = " \t\n=:\"'"


@lru_cache(maxsize=1)
def _library_patterns() -> tuple[re.Pattern[str], ...]:
    """The regular expressions of detect-secrets' shape-based detectors."""
    import importlib
    import inspect
    import pkgutil

    import detect_secrets.plugins as plugins
    from detect_secrets.plugins.base import RegexBasedDetector

    found: list[re.Pattern[str]] = []
    for module_info in sorted(pkgutil.iter_modules(plugins.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{plugins.__name__}.{module_info.name}")
        for name, detector in inspect.getmembers(module, inspect.isclass):
            if (detector.__module__ != module.__name__ or name in _LIBRARY_SKIPPED
                    or not issubclass(detector, RegexBasedDetector)):
                continue
            try:
                found.extend(detector().denylist)
            except Exception:  # noqa: BLE001 - a detector needing set-up we do not give it
                continue
    return tuple(found)


def _in_context(pattern: re.Pattern[str]) -> bool:
    """A detector that finds its secret after a keyword or inside a URL captures only the
    secret; the others capture a prefix at most, and their whole match is the secret."""
    return pattern.groups > 0 and any(m in pattern.pattern for m in ("{0,20}", "://", "(?:\\[|)"))


def _secret_spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    spans = []
    context = _in_context(pattern)
    for match in pattern.finditer(text):
        groups = [i for i in range(1, pattern.groups + 1) if match.group(i)] if context else []
        if groups:
            spans.append(match.span(groups[-1]))
            continue
        start, end = match.span()
        while start < end and text[start] in _DELIMITERS:
            start += 1
        while end > start and text[end - 1] in _DELIMITERS:
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def _replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:  # inside a span already replaced
            start = last
            if start >= end:
                continue
        out += [text[last:start], SECRET]
        last = end
    return "".join(out) + text[last:]


def _library_secrets(text: str, extra: Sequence[re.Pattern[str]] = ()) -> str:
    spans: list[tuple[int, int]] = []
    for pattern in (*_library_patterns(), *extra):
        spans += _secret_spans(pattern, text)
    return _replace_spans(text, spans) if spans else text


def _aws_secret(match: re.Match[str]) -> str:
    text = match.group(0)
    mixed = any(c.islower() for c in text) and any(c.isupper() for c in text) \
        and any(c.isdigit() for c in text)
    return SECRET if mixed else text


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


def redact(text: str, *, ip_addresses: bool = False,
           patterns: Sequence[re.Pattern[str]] = ()) -> str:
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
    out = _library_secrets(out, patterns)
    out = _AWS_SECRET.sub(_aws_secret, out)
    out = _NAMED_KEY.sub(lambda m: f"{m.group(1)}{SECRET}", out)
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
    out = _PHONE_BARE.sub(PHONE, out)
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


# --- people and a whole review -----------------------------------------------------------------

PERSON = "Person {}"
_MIN_NAME = 3  # shorter names would replace parts of ordinary words


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            from ..errors import InputError
            raise InputError(None, "[redact] patterns", f"{pattern!r} is not a regular "
                             f"expression: {exc}") from None
    return tuple(compiled)


@dataclass
class Redactor:
    """One redaction for a whole review: patterns (``redact``) plus people.

    Every name it is told about (``people``) becomes ``Person N`` wherever it appears, as a
    whole value or inside a text; N counts people in the order they were first named, so the
    same person has the same placeholder in every table, chart and file of one review, and
    two people never share one (names are told apart after NFKC and case folding). Texts
    are redacted once each.

    >>> r = Redactor(people=["Ana Lima", "bob@example.com"])
    >>> r.text("Ana Lima paged bob@example.com and carol@example.com")
    'Person 1 paged Person 2 and [email]'
    """

    people: Iterable[str] = ()
    patterns: Sequence[str] = ()
    ip_addresses: bool = False
    _placeholders: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _names: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False)
    _cache: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._compiled = _compile_patterns(self.patterns)
        self.add_people(self.people)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, people: Iterable[str] = ()) -> "Redactor":
        """``[redact]`` of review-kit.toml: ``patterns`` (more secret shapes, each a regular
        expression whose match is replaced) and ``ip_addresses`` (true: replace them too)."""
        section = dict((config or {}).get("redact") or {})
        patterns = section.get("patterns") or []
        if isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns):
            from ..errors import InputError
            raise InputError(None, "[redact] patterns", "expected a list of regular expressions")
        return cls(people=people, patterns=tuple(patterns),
                   ip_addresses=bool(section.get("ip_addresses", False)))

    def add_people(self, names: Iterable[Any]) -> None:
        added = False
        for name in names:
            if not isinstance(name, str) or not name.strip():
                continue
            key = _name_key(name)
            if key not in self._placeholders and key not in _PLACEHOLDER_KEYS:
                self._placeholders[key] = PERSON.format(len(self._placeholders) + 1)
                added = True
        if added:
            self._cache.clear()
            names = sorted((k for k in self._placeholders if len(k) >= _MIN_NAME),
                           key=len, reverse=True)
            self._names = re.compile(
                r"(?<![\w@.])@?(?:" + "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in names)
                + r")(?![\w])", re.IGNORECASE) if names else None

    def person(self, name: Any) -> Any:
        """A name as its placeholder (a name not known yet is added)."""
        if not isinstance(name, str) or not name.strip():
            return name
        self.add_people([name])
        return self._placeholders.get(_name_key(name), self.text(name))

    def text(self, value: Any) -> Any:
        """Names and then patterns replaced in a text; other values unchanged."""
        if not isinstance(value, str) or not value:
            return value
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        out = value
        if self._names is not None:
            out = self._names.sub(
                lambda m: self._placeholders.get(_name_key(m.group(0).lstrip("@")), SECRET), out)
        whole = self._placeholders.get(_name_key(out))
        out = whole or redact(out, ip_addresses=self.ip_addresses, patterns=self._compiled)
        if len(self._cache) < 100_000:
            self._cache[value] = out
        return out

    def series(self, values: pd.Series, *, people: bool = False) -> pd.Series:
        """A column redacted, each distinct value once; ``people``: values are names."""
        objects = values.astype(object)
        is_text = objects.map(lambda v: isinstance(v, str)).astype(bool)
        if not is_text.any():
            return values.copy()
        one = self.person if people else self.text
        cleaned = {v: one(v) for v in pd.unique(objects[is_text])}
        out = objects.copy()
        out[is_text] = objects[is_text].map(cleaned)
        return out.astype(values.dtype) if pd.api.types.is_string_dtype(values.dtype) else out

    def frame(self, df: pd.DataFrame, text: Iterable[str] = (), people: Iterable[str] = ()
              ) -> pd.DataFrame:
        out = df.copy()
        for column in people:
            if column in out.columns:
                out[column] = self.series(out[column], people=True)
        for column in text:
            if column in out.columns:
                out[column] = self.series(out[column])
        return out

    def value(self, obj: Any) -> Any:
        """Every text inside ``obj`` (dicts, lists, frames…) redacted, as ``redact_value``."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {k: SECRET if isinstance(k, str) and isinstance(v, str) and v
                    and is_sensitive_name(k) else self.value(v) for k, v in obj.items()}
        if isinstance(obj, pd.DataFrame):
            text_columns = [c for c in obj.columns if not pd.api.types.is_numeric_dtype(obj[c])
                            and not pd.api.types.is_datetime64_any_dtype(obj[c])]
            return self.frame(obj, text_columns)
        if isinstance(obj, pd.Series):
            return self.series(obj)
        if isinstance(obj, (list, tuple, set, frozenset)):
            items = [self.value(v) for v in obj]
            if isinstance(obj, tuple) and hasattr(obj, "_fields"):
                return type(obj)(*items)
            return type(obj)(items)
        return obj


_PLACEHOLDER_KEYS = frozenset(_name_key(p) for p in _PLACEHOLDERS)
# Columns of a timeline that name people (bots and services keep their names: they are
# not people, and "PagerDuty" or "Deploy Bot" says what acted).
EVENT_TEXT_COLUMNS = ("summary", "status", "raw")
INCIDENT_TEXT_FIELDS = ("title", "severity_raw", "status", "service", "team", "url", "source_id")


def _event_people(timeline: pd.DataFrame) -> list[str]:
    if timeline.empty:
        return []
    people = timeline["actor_type"].isin(["bot", "service"]) == False  # noqa: E712 (NaN: a person)
    names = list(timeline.loc[people, "actor"].dropna().astype(str))
    if "target" in timeline.columns:
        for target in timeline["target"].dropna():
            names += target_people(target)
    return names


def redactor_for(data: Any, config: Mapping[str, Any] | None = None,
                 extra_people: Iterable[str] = ()) -> Redactor:
    """The Redactor of one incident's review (``analysis.retrospective.IncidentData``): its
    people are the commander, the timeline's people in order, action-item owners, then
    ``extra_people`` (annotation authors)."""
    metrics, incident = data.metrics, data.incident
    people = [incident.get("commander"), metrics.get("commander"),
              *(metrics.get("responders") or []), *_event_people(data.timeline)]
    if len(data.action_items) and "owner" in data.action_items.columns:
        people += list(data.action_items["owner"].dropna().astype(str))
    return Redactor.from_config(config, people=[*people, *extra_people])


def redact_incident(data: Any, redactor: Redactor) -> Any:
    """A copy of one incident's review with every text redacted before anything is drawn or
    written: incident fields, the timeline (people as placeholders, messages redacted, raw
    records dropped), annotations, action items, metrics' people and communication gaps."""
    timeline = data.timeline.drop(columns=["raw"], errors="ignore")
    people_columns = [c for c in ("actor", "target") if c in timeline.columns]
    actor_is_person = timeline["actor_type"].isin(["bot", "service"]) == False  # noqa: E712
    redacted = redactor.frame(timeline, text=EVENT_TEXT_COLUMNS)
    for column in people_columns:
        values = timeline[column]
        if column == "actor":
            redacted.loc[actor_is_person, column] = redactor.series(values[actor_is_person], people=True)
            redacted.loc[~actor_is_person, column] = redactor.series(values[~actor_is_person])
        else:  # "a, b" lists of escalation targets
            redacted[column] = values.map(lambda v: TARGET_SEPARATOR.join(
                str(redactor.person(t)) for t in target_people(v)) if isinstance(v, str) else v)
    incident = dict(data.incident)
    for key in INCIDENT_TEXT_FIELDS:
        incident[key] = redactor.text(incident.get(key))
    incident["commander"] = redactor.person(incident.get("commander"))
    metrics = dict(data.metrics)
    metrics["commander"] = redactor.person(metrics.get("commander"))
    if metrics.get("responders") is not None:
        metrics["responders"] = [redactor.person(p) for p in metrics["responders"]]
    for key in ("title", "service", "team"):
        if key in metrics:
            metrics[key] = redactor.text(metrics[key])
    annotations = {k: redactor.text(v) for k, v in data.annotations.items()}
    items = redactor.frame(data.action_items, text=("title", "url", "type", "priority"),
                           people=("owner",))
    gaps = redactor.frame(data.gaps, text=("audience",)) if len(data.gaps) else data.gaps
    return replace(data, incident=incident, timeline=redacted, annotations=annotations,
                   action_items=items, metrics=metrics, gaps=gaps)
