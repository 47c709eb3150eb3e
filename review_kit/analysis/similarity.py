"""Have we seen this before? Which past incidents resemble one another, and why.

One similarity for the whole package (the retrospective's "Seen before", the trend report's
recurrence groups and its "fixes that did not hold"), a pure function of frames:

- every incident becomes a bag of **terms**: its service (``service:``), the names of the
  alerts that fired (``alert:``) and their fingerprints (``fingerprint:``), and the words
  and two-word phrases of its title and of its chat messages and notes (``word:``);
- a term that occurs in a large share of the incidents (more than ``COMMON_SHARE``, and in
  more than ``COMMON_FLOOR`` of them) carries nothing: "error", "deploy", "latency",
  "Incident with …" are in every other title; the other words weigh by their rarity
  (TF-IDF: ``(1 + log tf) · log(N / df)``, rows L2-normalised per kind of term);
- two incidents are **similar** when they share an alert or a fingerprint that is not
  common, or share the service and rare words (word cosine ≥ ``SERVICE_WORDS``), or share
  at least ``MIN_SHARED_WORDS`` rare words or phrases (a two-word phrase is three: its two
  words and the pair) with a word cosine ≥ ``WORDS_ALONE``.
  A shared service alone is not enough: a busy service has hundreds of unrelated incidents.
- the **score** ranks matches: alert cosine + word cosine + 0.5 for the same service; each
  match carries what it shared, for the reader to judge.

Pairs are worked out between **profiles** (rows with the same service and the same weighted
terms), not between incidents: a history of look-alike incidents has hundreds of millions of
similar pairs but a few thousand profiles, and the recurrence groups and the fixes that did not
hold come out exactly as if every pair had been ranked (`SimilarityIndex._nearest`,
`SimilarityIndex.latest_linked`).

The terms of an incident's events (alerts, chat) are the expensive part on a big store:
`event_terms` computes them per incident so a caller can keep them (see
`review_kit.notebook.similar_history`), and `SimilarityIndex.build` takes them as a frame.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ..model import check_columns
from .kept import sparse_from, sparse_parts, strings_from, strings_parts, times_from, times_parts

__all__ = [
    "COMMON_SHARE", "COMMON_FLOOR", "MIN_SHARED_WORDS", "SERVICE_WORDS", "WORDS_ALONE",
    "TEXT_KINDS", "TERMS_VERSION", "SimilarityIndex", "TermMatrix", "event_terms", "incident_terms",
    "text_tokens", "word_terms",
]

# Bump when the terms an incident's events give change, so kept terms are computed again
# (2: strings kept with their lengths, so a line break inside one cannot shift the rest).
TERMS_VERSION = 2
# Bump when what `SimilarityIndex.build` makes of the terms changes, so a kept index is
# built again.
INDEX_VERSION = 2  # 2: `present` is no longer kept (the pattern of `weighted`)
COMMON_SHARE = 0.05
COMMON_FLOOR = 3
MIN_SHARED_WORDS = 3
SERVICE_WORDS = 0.15
WORDS_ALONE = 0.4
# Row-by-row similarity products per block of `linked_blocks`.
BLOCK_PRODUCTS = 2_000_000
# Recurrence groups join mutual nearest neighbours: each among the other's NEIGHBOURS most similar.
NEIGHBOURS = 5
SERVICE_WEIGHT = 0.5
# Events whose text counts: chat and notes (messages), alerts (names and fingerprints).
TEXT_KINDS: tuple[str, ...] = ("message", "note", "alert_firing")
KINDS: tuple[str, ...] = ("service", "alert", "fingerprint", "word")

# Words carrying no identity of a failure.
STOPWORDS = frozenset("""a an and are as at be by for from in into is it of on or the to
    with was were we our has have had after before during via this that there their they
    not no but can could will would should been being its above below over under than then
    all any some just also now still more less out up down off see seen""".split())
# Any token containing a digit is an id, a number, a host or an address: INC-1234, 5xx,
# 10.0.0.1, a1b2c3d4, 2024-03-01.
_WITH_DIGIT = r"[^\s]*\d[^\s]*"
_HEXISH = r"\b[0-9a-f]{8,}\b"
_URLISH = r"\S+://\S+|<[^>]*>"


def text_tokens(texts: pd.Series) -> pd.Series:
    """The words of each text, in order: lower case; ids, numbers, links and stop words out.

    >>> text_tokens(pd.Series(["[INC-42] Checkout API 5xx errors on eu-west-1"]))[0]
    ['checkout', 'api', 'errors']
    """
    text = texts.astype("string").fillna("").str.lower()
    text = text.str.replace(_URLISH, " ", regex=True)
    text = text.str.replace(_WITH_DIGIT, " ", regex=True).str.replace(_HEXISH, " ", regex=True)
    words = text.str.findall(r"[a-z][a-z_']+[a-z]|[a-z]{2}")
    return words.map(lambda ws: [w for w in ws if w not in STOPWORDS]).astype(object)


def word_terms(texts: pd.Series, owners: Sequence[Any] | pd.Series) -> pd.DataFrame:
    """(incident_id, term) rows: each text's words and adjacent word pairs (a phrase), once
    per text. Each distinct text is tokenised once (chat repeats itself: "+1", "looking")."""
    codes, uniques = pd.factorize(pd.Series(list(texts), dtype=object).astype("string").fillna(""))
    tokens = text_tokens(pd.Series(uniques, dtype=object))
    flat = tokens.explode().dropna()
    text_of = flat.index.to_numpy()
    words = flat.astype(str).to_numpy(dtype=object)
    # A phrase: this word and the next one of the same text.
    same_text = np.r_[text_of[1:] == text_of[:-1], False]
    phrases = words[:-1][same_text[:-1]] + " " + words[1:][same_text[:-1]] if len(words) > 1 \
        else np.array([], dtype=object)
    per_text = pd.DataFrame({"text": np.r_[text_of, text_of[:-1][same_text[:-1]]] if len(words) > 1
                             else text_of,
                             "term": np.r_[words, phrases] if len(words) > 1 else words})
    per_text = per_text.drop_duplicates()
    owners = np.asarray(list(owners), dtype=object)
    # Every (owner, text) once, then the text's terms.
    owned = pd.DataFrame({"incident_id": owners, "text": codes}).drop_duplicates()
    frame = owned.merge(per_text, on="text")[["incident_id", "term"]]
    frame["term"] = "word:" + frame["term"].astype(str)
    return frame


def _counted(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({"incident_id": pd.Series([], dtype=object),
                             "term": pd.Series([], dtype=object),
                             "count": pd.Series([], dtype="int64")})
    ids, id_names = pd.factorize(frame["incident_id"].astype(str))
    terms, term_names = pd.factorize(frame["term"].astype(str))
    key = ids.astype(np.int64) * len(term_names) + terms
    unique, counts = _distinct(key, counts=True)
    return pd.DataFrame({"incident_id": np.asarray(id_names, dtype=object)[unique // len(term_names)],
                         "term": np.asarray(term_names, dtype=object)[unique % len(term_names)],
                         "count": counts.astype("int64")})


def alert_names(summaries: pd.Series) -> pd.Series:
    """An alert's name from its event summary ("HighErrorRate: 5xx above 5%" → "HighErrorRate")."""
    return summaries.astype("string").fillna("").str.split(": ", n=1).str[0].str.strip()


def event_terms(events: pd.DataFrame) -> pd.DataFrame:
    """The terms one or more incidents' events give: (incident_id, term, count).

    ``alert:<name>`` per alert_firing event (the name is its summary up to ": "),
    ``fingerprint:<fp>`` for an Alertmanager alert (its event id holds the fingerprint),
    ``word:<w>`` and ``word:<w1> <w2>`` from chat messages and notes. Needs incident_id,
    kind and summary; source and event_id for fingerprints.
    """
    check_columns(events, ["incident_id", "kind", "summary"], "events frame")
    kind = events["kind"].astype(object)
    parts = []
    alerts = events[kind == "alert_firing"]
    if len(alerts):
        names = alert_names(alerts["summary"])
        keep = names != ""
        parts.append(pd.DataFrame({"incident_id": alerts["incident_id"][keep].to_numpy(),
                                   "term": ("alert:" + names[keep]).to_numpy(dtype=object)}))
        if {"source", "event_id"} <= set(alerts.columns):
            manager = alerts[alerts["source"].astype(object) == "alertmanager"]
            prints = manager["event_id"].astype("string").str.split(":").str[1]
            keep = prints.notna() & (prints != "")
            parts.append(pd.DataFrame({
                "incident_id": manager["incident_id"][keep].to_numpy(),
                "term": ("fingerprint:" + prints[keep]).to_numpy(dtype=object)}))
    chat = events[kind.isin(("message", "note"))]
    if len(chat):
        parts.append(word_terms(chat["summary"], chat["incident_id"]))
    if not parts:
        return _counted(pd.DataFrame(columns=["incident_id", "term"]))
    return _counted(pd.concat(parts, ignore_index=True))


def incident_terms(incidents: pd.DataFrame) -> pd.DataFrame:
    """The terms of the incident rows themselves: ``service:<name>`` and the title's words."""
    check_columns(incidents, ["incident_id", "title"], "incidents frame")
    parts = [word_terms(incidents["title"], incidents["incident_id"])]
    if "service" in incidents:
        service = incidents["service"].astype("string").str.strip().str.lower()
        keep = service.notna() & (service != "")
        parts.append(pd.DataFrame({"incident_id": incidents["incident_id"][keep].to_numpy(),
                                   "term": ("service:" + service[keep]).to_numpy(dtype=object)}))
    return _counted(pd.concat(parts, ignore_index=True))


# --- kept terms ------------------------------------------------------------------------------
@dataclass
class TermMatrix:
    """The terms of incidents' events as a count matrix (rows: incidents, columns: terms),
    with each incident's event count when its row was made: what a caller keeps between runs
    (`to_bytes`), bringing stale rows up to date with `updated`."""

    ids: np.ndarray
    events: np.ndarray
    counts: sparse.csr_matrix
    terms: np.ndarray
    version: int = TERMS_VERSION

    @classmethod
    def from_terms(cls, terms: pd.DataFrame, events: pd.Series) -> "TermMatrix":
        """From `event_terms` rows, for the incidents of `events` (incident_id → event count)."""
        ids = events.index.astype(str).to_numpy(dtype=object)
        rows = pd.Index(ids).get_indexer(terms["incident_id"].astype(str))
        keep = rows >= 0
        codes, vocabulary = pd.factorize(terms["term"].astype(str)[keep])
        counts = sparse.csr_matrix((terms["count"].to_numpy(dtype=np.float64)[keep], (rows[keep], codes)),
                                   shape=(len(ids), len(vocabulary)))
        return cls(ids, events.to_numpy(dtype=np.int64), counts,
                   np.asarray(vocabulary, dtype=object))

    @classmethod
    def empty(cls) -> "TermMatrix":
        return cls(np.array([], dtype=object), np.array([], dtype=np.int64),
                   sparse.csr_matrix((0, 0)), np.array([], dtype=object))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, version=np.int64(self.version), events=self.events,
                 **strings_parts("ids", self.ids), **strings_parts("terms", self.terms),
                 **sparse_parts("counts", self.counts))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "TermMatrix | None":
        """The kept matrix, or None when it was made by other term rules (or is unreadable)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as parts:
                if int(parts["version"]) != TERMS_VERSION:
                    return None
                return cls(strings_from("ids", parts), parts["events"],
                           sparse_from("counts", parts), strings_from("terms", parts))
        except (OSError, ValueError, KeyError):
            return None

    def stale(self, events: pd.Series) -> list[str]:
        """Incidents of `events` (incident_id → count) whose row is missing or out of date."""
        known = pd.Series(self.events, index=pd.Index(self.ids, dtype=object))
        now = events.astype("int64")
        then = known.reindex(now.index.astype(str))
        return now.index[(then.to_numpy() != now.to_numpy()) | then.isna().to_numpy()].astype(
            str).tolist()

    def updated(self, fresh: "TermMatrix", events: pd.Series) -> "TermMatrix":
        """This matrix with `fresh`'s rows put in, and only the incidents of `events`."""
        vocabulary = pd.Index(self.terms, dtype=object)
        new_terms = pd.Index(fresh.terms, dtype=object).difference(vocabulary, sort=False)
        vocabulary = vocabulary.append(new_terms)
        width = len(vocabulary)
        old = sparse.csr_matrix((self.counts.data, self.counts.indices, self.counts.indptr),
                                shape=(len(self.ids), width))
        fresh_coo = fresh.counts.tocoo()
        fresh_cols = vocabulary.get_indexer(pd.Index(fresh.terms, dtype=object))[fresh_coo.col] \
            if fresh_coo.nnz else fresh_coo.col
        renewed = sparse.csr_matrix((fresh_coo.data, (fresh_coo.row, fresh_cols)),
                                    shape=(len(fresh.ids), width))
        ids = events.index.astype(str).to_numpy(dtype=object)
        in_fresh = pd.Index(fresh.ids, dtype=object).get_indexer(ids)
        in_old = pd.Index(self.ids, dtype=object).get_indexer(ids)
        stacked = sparse.vstack([old, renewed, sparse.csr_matrix((1, width))]).tocsr()
        source = np.where(in_fresh >= 0, len(self.ids) + in_fresh,
                          np.where(in_old >= 0, in_old, len(self.ids) + len(fresh.ids)))
        counts = stacked[source]
        # Terms no incident holds any more are dropped, so the vocabulary does not only grow.
        used = np.flatnonzero(np.diff(counts.tocsc().indptr) > 0)
        return TermMatrix(ids, events.to_numpy(dtype=np.int64), counts[:, used].tocsr(),
                          np.asarray(vocabulary, dtype=object)[used])


# --- the index -------------------------------------------------------------------------------
def _pattern(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """1.0 where `matrix` holds a value: which terms each row has."""
    return sparse.csr_matrix((np.ones_like(matrix.data), matrix.indices, matrix.indptr),
                             shape=matrix.shape)


def _normalised(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sparse.diags(scale) @ matrix


@dataclass
class SimilarityIndex:
    """Every incident's weighted terms, ready to compare one incident with all (or all pairs).

    ``ids``: incident ids in row order; ``times``: when each happened (created_at);
    ``service``: each one's service code (-1 for none); ``blocks``: per kind of term
    ("alert" joins alerts and fingerprints, "word") the L2-normalised TF-IDF rows and the
    binary rows of the terms that count; ``terms``: the names of each block's columns.
    """

    ids: np.ndarray
    times: pd.Series
    service: np.ndarray
    services: list[str]
    weighted: dict[str, sparse.csr_matrix]
    present: dict[str, sparse.csr_matrix]
    terms: dict[str, np.ndarray]
    idf: dict[str, np.ndarray]
    common: dict[str, int]
    _pairs: pd.DataFrame | None = field(default=None, repr=False)
    _neighbours: dict[int, pd.DataFrame] = field(default_factory=dict, repr=False)
    _transposes: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)
    _rows: dict[str, int] = field(default_factory=dict, repr=False)
    _profile_of: np.ndarray | None = field(default=None, repr=False)
    _profile_rows: np.ndarray | None = field(default=None, repr=False)
    _profile_index: "SimilarityIndex | None" = field(default=None, repr=False)

    @classmethod
    def build(cls, incidents: pd.DataFrame,
              kept: "TermMatrix | pd.DataFrame | None" = None) -> "SimilarityIndex":
        """From the incidents frame (incident_id, title, service, created_at) and the terms of
        their events: a `TermMatrix` (kept from an earlier run) or `event_terms` rows."""
        check_columns(incidents, ["incident_id", "title"], "incidents frame")
        ids = incidents["incident_id"].astype(str).to_numpy(dtype=object)
        n = len(ids)
        if kept is None:
            kept = TermMatrix.empty()
        elif isinstance(kept, pd.DataFrame):
            check_columns(kept, ["incident_id", "term", "count"], "terms frame")
            owners = pd.Series(0, index=pd.Index(pd.unique(kept["incident_id"].astype(str))))
            kept = TermMatrix.from_terms(kept, owners)
        own = incident_terms(incidents)
        vocabulary = pd.Index(kept.terms, dtype=object)
        vocabulary = vocabulary.append(pd.Index(pd.unique(own["term"].astype(str)), dtype=object)
                                       .difference(vocabulary, sort=False))
        width = len(vocabulary)
        rows = pd.Index(ids, dtype=object).get_indexer(own["incident_id"].astype(str))
        counts = sparse.csr_matrix(
            (own["count"].to_numpy(dtype=np.float64),
             (rows, vocabulary.get_indexer(own["term"].astype(str)))), shape=(n, width))
        if len(kept.ids):
            wide = sparse.csr_matrix((kept.counts.data, kept.counts.indices, kept.counts.indptr),
                                     shape=(len(kept.ids), width))
            at = pd.Index(kept.ids, dtype=object).get_indexer(ids)
            padded = sparse.vstack([wide, sparse.csr_matrix((1, width))]).tocsr()
            counts = counts + padded[np.where(at >= 0, at, len(kept.ids))]
        counts = counts.tocsr()
        prefix = pd.Series(np.asarray(vocabulary, dtype=object), dtype=object).str.split(
            ":", n=1).str[0].to_numpy(dtype=object) if width else np.array([], dtype=object)
        service_values = incidents["service"] if "service" in incidents else pd.Series(
            [None] * n)
        service_text = service_values.astype("string").str.strip().str.lower().to_numpy(
            dtype=object, na_value=None)
        codes, uniques = pd.factorize(pd.Series(service_text, dtype=object), use_na_sentinel=True)
        times = pd.to_datetime(incidents["created_at"], utc=True) if "created_at" in incidents \
            else pd.Series(pd.NaT, index=incidents.index, dtype="datetime64[us, UTC]")
        weighted, present, names, idfs = {}, {}, {}, {}
        floor = max(COMMON_FLOOR, int(np.floor(COMMON_SHARE * n)))
        for block, prefixes in (("alert", ("alert", "fingerprint")), ("word", ("word",))):
            columns = np.flatnonzero(np.isin(prefix, prefixes))
            block_counts = counts[:, columns].tocsr()
            df = np.diff(block_counts.tocsc().indptr)
            # A term counts when two incidents can share it and it is not in a large share.
            useful = (df >= 2) & (df <= floor)
            keep = np.flatnonzero(useful)
            block_counts = block_counts[:, keep].tocsr()
            idf = np.log(max(n, 1) / df[keep]) if keep.size else np.zeros(0)
            tf = block_counts.copy()
            tf.data = 1.0 + np.log(tf.data)
            tfidf = (tf @ sparse.diags(idf)).tocsr() if keep.size else tf
            tfidf.eliminate_zeros()
            weighted[block] = _normalised(tfidf)
            present[block] = _pattern(weighted[block])
            names[block] = np.asarray(vocabulary, dtype=object)[columns[keep]]
            idfs[block] = idf
        return cls(ids=ids, times=times.reset_index(drop=True), service=codes,
                   services=[str(u) for u in uniques], weighted=weighted, present=present,
                   terms=names, idf=idfs, common={"floor": floor})

    def to_bytes(self, revision: int) -> bytes:
        """The index as bytes (no pickle: a store may be shared), stamped with the store
        `revision` it was built from."""
        parts: dict[str, np.ndarray] = {
            "version": np.int64(INDEX_VERSION), "terms_version": np.int64(TERMS_VERSION),
            "revision": np.int64(revision), "floor": np.int64(self.common["floor"]),
            **times_parts("times", "times_known", self.times), "service": self.service,
            **strings_parts("ids", self.ids), **strings_parts("services", self.services)}
        for block in self.weighted:
            # Not `present`: it is the pattern of `weighted` (every weight kept is above 0),
            # and leaving it out halves what a retrospective reads back.
            parts.update(sparse_parts(f"{block}_weighted", self.weighted[block]))
            parts.update(strings_parts(f"{block}_terms", self.terms[block]))
            parts[f"{block}_idf"] = self.idf[block]
        buffer = io.BytesIO()
        np.savez(buffer, **parts)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, revision: int) -> "SimilarityIndex | None":
        """The index kept by `to_bytes`, or None when it was built from another store revision
        or by other rules (or cannot be read): the caller builds it again."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as parts:
                if (int(parts["version"]), int(parts["terms_version"]), int(parts["revision"])) \
                        != (INDEX_VERSION, TERMS_VERSION, int(revision)):
                    return None
                times = times_from("times", "times_known", parts)
                weighted = {b: sparse_from(f"{b}_weighted", parts) for b in ("alert", "word")}
                return cls(ids=strings_from("ids", parts), times=times, service=parts["service"],
                           services=[str(s) for s in strings_from("services", parts)],
                           weighted=weighted,
                           present={b: _pattern(m) for b, m in weighted.items()},
                           terms={b: strings_from(f"{b}_terms", parts) for b in weighted},
                           idf={b: parts[f"{b}_idf"] for b in weighted},
                           common={"floor": int(parts["floor"])})
        except (OSError, ValueError, KeyError, EOFError):
            return None

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, incident_id: str) -> int:
        key = str(incident_id)
        if key not in self._rows:  # a scan of every id: asked for again by the next question
            found = np.flatnonzero(self.ids == key)
            if not found.size:
                raise KeyError(incident_id)
            self._rows[key] = int(found[0])
        return self._rows[key]

    # --- one incident against all --------------------------------------------------------------
    def _scores(self, left: np.ndarray) -> dict[str, Any]:
        """Similarity parts of rows `left` against every row: cosines and shared-term counts."""
        out = {}
        for block in ("alert", "word"):
            w, b = self.weighted[block], self.present[block]
            w_t, b_t = self._transposed(block)
            out[f"{block}_sim"] = w[left] @ w_t
            out[f"{block}_shared"] = b[left] @ b_t
        return out

    def _against_all(self, block: str, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Row `i` against every row: cosines and shared-term counts. Each matrix times the
        row as a dense vector: the transposes `_scores` takes for blocks of rows cost more
        than these products for one row (a retrospective asks about one incident)."""
        weighted = self.weighted[block]
        start, stop = weighted.indptr[i], weighted.indptr[i + 1]
        terms = weighted.indices[start:stop]
        row = np.zeros(weighted.shape[1])
        row[terms] = weighted.data[start:stop]
        has = np.zeros(weighted.shape[1])
        has[terms] = 1.0
        return weighted @ row, self.present[block] @ has

    def _transposed(self, block: str) -> tuple[Any, Any]:
        """The term matrices transposed to CSR once: a product with ``.T`` converts the whole
        matrix again for every block of rows (thousands of times on a big history)."""
        if block not in self._transposes:
            self._transposes[block] = (self.weighted[block].T.tocsr(),
                                       self.present[block].T.tocsr())
        return self._transposes[block]

    def similar_to(self, incident_id: str, *, limit: int | None = 5, past_only: bool = True,
                   exclude: Iterable[str] = ()) -> pd.DataFrame:
        """The incidents similar to one, most similar first (then the most recent).

        Columns: incident_id, score, same_service, alerts (shared alert names and
        fingerprints), words (shared rare words and phrases, rarest first), why (one line).
        ``past_only`` keeps incidents created before this one; ``exclude`` drops ids (the
        suggestions the facilitator dismissed).
        """
        i = self.row(incident_id)
        alert_sim, alerts_shared = self._against_all("alert", i)
        word_sim, words_shared = self._against_all("word", i)
        same = (self.service == self.service[i]) & (self.service >= 0)
        linked = _linked(alerts_shared, same, word_sim, words_shared)
        linked[i] = False
        if past_only and pd.notna(self.times.iloc[i]):
            linked &= (self.times < self.times.iloc[i]).to_numpy(dtype=bool, na_value=False)
        excluded = np.isin(self.ids, [str(e) for e in exclude])
        linked &= ~excluded
        chosen = np.flatnonzero(linked)
        score = alert_sim + word_sim + SERVICE_WEIGHT * same
        # Most similar first, then the most recent (unknown times last), then by id; one sort
        # of arrays, since a look-alike history makes thousands of matches.
        recency = -_stamps(self.times.iloc[chosen])
        id_rank = np.argsort(np.argsort(self.ids[chosen].astype(str), kind="stable"), kind="stable")
        order = chosen[np.lexsort((id_rank, recency, -np.round(score[chosen], 9)))].tolist()
        if limit is not None:
            order = order[:limit]
        rows = [self._match(i, j, float(score[j]), bool(same[j])) for j in order]
        return pd.DataFrame(rows, columns=["incident_id", "score", "same_service", "service",
                                           "alerts", "words", "why"])

    def _shared(self, block: str, i: int, j: int, limit: int) -> list[str]:
        b = self.present[block]
        if b.format == "csr":  # a row's terms straight from the arrays: b[i] builds a matrix
            common = np.intersect1d(b.indices[b.indptr[i]:b.indptr[i + 1]],
                                    b.indices[b.indptr[j]:b.indptr[j + 1]])
        else:
            common = np.intersect1d(b[i].indices, b[j].indices)
        if not common.size:
            return []
        names = [str(t).split(":", 1)[1] for t in self.terms[block][common]]
        # Rarest first, phrases before their words; a word already inside a phrase shown is
        # not repeated ("pool exhausted", not also "pool" and "exhausted").
        order = sorted(range(len(common)), key=lambda k: (-round(float(self.idf[block][common[k]]), 9),
                                                          -names[k].count(" "), names[k]))
        shown: list[str] = []
        covered: set[str] = set()
        for k in order:
            words = set(names[k].split(" "))
            if words <= covered:
                continue
            shown.append(names[k])
            covered |= words
            if len(shown) == limit:
                break
        return _chained(shown)

    def _match(self, i: int, j: int, score: float, same: bool) -> dict[str, Any]:
        alerts = self._shared("alert", i, j, 5)
        words = self._shared("word", i, j, 6)
        service = self.services[self.service[j]] if self.service[j] >= 0 else None
        return {"incident_id": str(self.ids[j]), "score": round(score, 4), "same_service": same,
                "service": service, "alerts": alerts, "words": words,
                "why": why_text(same, service, alerts, words)}

    def considered(self, incident_id: str, *, past_only: bool = True) -> tuple[int, Any]:
        """How many incidents a search compared with (the past ones) and the first one's time."""
        i = self.row(incident_id)
        others = np.ones(len(self), dtype=bool)
        others[i] = False
        if past_only and pd.notna(self.times.iloc[i]):
            others &= (self.times < self.times.iloc[i]).to_numpy(dtype=bool, na_value=False)
        times = self.times[others]
        return len(times), (times.min() if len(times) else None)

    # --- all pairs -------------------------------------------------------------------------------
    def linked_blocks(self, *, upper: bool = False,
                      itself: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The similar pairs, a block of rows at a time: (i, j, score) for every j > i
        (``upper``) or every j != i, each row's pairs whole within its block; ``itself`` adds
        (i, i) when a row would be similar to an identical copy of itself. Callers reduce
        each block as it comes: a history of look-alike titles has pairs in the square of
        its size (100,000 incidents: far more than memory holds)."""
        n = len(self)
        step = max(1, BLOCK_PRODUCTS // max(n, 1))  # keeps each block's similarity products small
        for start in range(0, n, step):
            stop = min(n, start + step)
            parts = self._scores(np.arange(start, stop))
            # Pairs where anything is shared: the union of the four sparse products.
            grid = (parts["alert_shared"] + parts["word_shared"]).tocoo()
            i, j = grid.row.astype(np.int64) + start, grid.col.astype(np.int64)
            keep = (j > i if upper else j != i) | (itself & (j == i))
            i, j = i[keep], j[keep]
            if not i.size:
                continue
            local = i - start
            alert_sim, word_sim, words_shared, alerts_shared = (
                _values_at(parts[name], local, j)
                for name in ("alert_sim", "word_sim", "word_shared", "alert_shared"))
            same = (self.service[i] == self.service[j]) & (self.service[i] >= 0)
            linked = _linked(alerts_shared, same, word_sim, words_shared)
            yield i[linked], j[linked], (alert_sim + word_sim + SERVICE_WEIGHT * same)[linked]

    def pairs(self) -> pd.DataFrame:
        """Every similar pair (left before right in row order): left, right, score. Holds
        them all: for a small history and tests; big ones go through `linked_blocks`."""
        if self._pairs is None:
            lefts, rights, scores = [], [], []
            for i, j, score in self.linked_blocks(upper=True):
                lefts.append(i)
                rights.append(j)
                scores.append(score)
            self._pairs = _pair_frame(_stacked(lefts), _stacked(rights), _stacked(scores))
        return self._pairs

    def neighbour_pairs(self, k: int = NEIGHBOURS) -> pd.DataFrame:
        """The similar pairs in which each incident is among the other's `k` most similar ones
        (ties broken by nearness in time): what recurrence groups are chained from, so a few
        loose links cannot merge a whole history into one group."""
        if k not in self._neighbours:
            self._neighbours[k] = self._mutual(k)
        return self._neighbours[k]

    def _mutual(self, k: int) -> pd.DataFrame:
        i, j, score = self._nearest(k)
        n = np.int64(len(self))
        chosen = np.sort(i * n + j)

        def among(keys: np.ndarray) -> np.ndarray:
            at = np.minimum(np.searchsorted(chosen, keys), chosen.size - 1)
            return chosen[at] == keys

        # Mutual: each among the other's k; reported once, left before right.
        keep = (i < j) & among(j * n + i)
        i, j, score = i[keep], j[keep], score[keep]
        order = np.lexsort((j, i))
        return _pair_frame(i[order], j[order], score[order])

    # --- profiles: identical rows compared once ---------------------------------------------------
    def _profiles(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's profile number and each profile's first row. Rows of one profile hold the
        same service and the same weighted terms stored in the same order, so every product
        with them gives bit for bit the same numbers: the pairs are computed between profiles.
        A history of look-alike incidents has a few thousand profiles for 100,000 rows, and
        its similar pairs (hundreds of millions) are never listed one by one."""
        if self._profile_of is None:
            n = len(self)
            mixed = np.zeros((n, 2), dtype=np.uint64)
            for h, seed in enumerate(_SEEDS):
                total = _splitmix(self.service.astype(np.int64).view(np.uint64) + np.uint64(seed))
                for b, block in enumerate(("alert", "word")):
                    w = self.weighted[block]
                    entry = _splitmix((w.indices.astype(np.uint64) * np.uint64(2) + np.uint64(b))
                                      ^ _splitmix(w.data.astype(np.float64).view(np.uint64)
                                                  + np.uint64(seed)))
                    # Order matters to the products' rounding, so it matters to the hash.
                    entry = _splitmix(entry + np.arange(entry.size, dtype=np.uint64)
                                      - np.repeat(w.indptr[:-1], np.diff(w.indptr)).astype(np.uint64))
                    sums = np.r_[np.uint64(0), np.cumsum(entry, dtype=np.uint64)]
                    total = _splitmix(total ^ (sums[w.indptr[1:]] - sums[w.indptr[:-1]]))
                mixed[:, h] = total
            _, first, codes = np.unique(mixed, axis=0, return_index=True, return_inverse=True)
            codes = codes.ravel()
            renumber = np.empty(first.size, dtype=np.int64)
            renumber[np.argsort(first, kind="stable")] = np.arange(first.size)
            codes = renumber[codes]
            reps = np.sort(first).astype(np.int64)
            # A hash can collide: a row that differs from its profile's first row stands alone.
            rows = np.arange(n)
            same = self.service == self.service[reps[codes]]
            for block in ("alert", "word"):
                same &= _same_rows(self.weighted[block], rows, reps[codes])
            strays = np.flatnonzero(~same)
            codes[strays] = reps.size + np.arange(strays.size)
            self._profile_of, self._profile_rows = codes, np.r_[reps, strays].astype(np.int64)
        return self._profile_of, self._profile_rows

    def _profile_blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(a, b, score) for every ordered pair of similar profiles, (a, a) included when two
        rows of profile a are similar to each other, a block of profiles a at a time (each
        whole, as `linked_blocks` gives them); the score is that of any row of a with any row
        of b, computed from a's side. In blocks because a history of look-alikes that differ
        in some rare word has about as many profiles as rows, and then as many profile pairs
        as similar pairs."""
        if self._profile_index is None:
            _, reps = self._profiles()
            self._profile_index = SimilarityIndex(
                ids=self.ids[reps], times=self.times.iloc[reps].reset_index(drop=True),
                service=self.service[reps], services=self.services,
                weighted={b: m[reps] for b, m in self.weighted.items()},
                present={b: m[reps] for b, m in self.present.items()},
                terms=self.terms, idf=self.idf, common=self.common)
        for a, b, score in self._profile_index.linked_blocks(itself=True):
            yield a.astype(np.int64), b.astype(np.int64), score.astype(np.float64)

    def _nearest(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, j, score): each row's `k` most similar rows: the higher score (to 1e-6), then
        the nearer in time (`_time_ties`), then the later rows before the earlier ones, each
        in row order.

        Worked on profiles: for a row of profile a, the similar profiles in order of score
        hold whole score levels; the levels that fit in `k` are taken whole, and only the
        level that does not fit is ranked by time and row, among its own rows. There the
        candidates are the rows nearest in time on each side (``k + 2`` of them, widened to
        every row as near as the farthest of those: a tie of time cannot hide behind them)
        and the first ``k + 2`` rows after this one and from the start in row order (what
        decides among rows too far apart in time to tell). The same rows, in the same order,
        as ranking every similar pair."""
        profile, _ = self._profiles()
        n = len(self)
        stamps = _stamps(self.times)
        size = np.bincount(profile, minlength=profile.max() + 1 if n else 0)
        members = np.argsort(profile, kind="stable")  # rows by profile, each in row order
        first = np.cumsum(size) - size
        picked = [_nearest_of_profiles(a, b, score, k, profile, size, members, first, stamps)
                  for a, b, score in self._profile_blocks()]
        return (_stacked([p[0] for p in picked]).astype(np.int64),
                _stacked([p[1] for p in picked]).astype(np.int64),
                _stacked([p[2] for p in picked]).astype(np.float64))

    def latest_linked(self, at: np.ndarray, ready: np.ndarray) -> np.ndarray:
        """For each row i, the similar row j with the latest `at` (then the last row) among
        those with ``at[j] < at[i]`` and ``ready[j] < at[i]``; -1 when there is none. `at`
        and `ready` are int64 (nanoseconds); a row whose `at` is the smallest int64 (unknown
        time) neither asks nor answers. Worked on profiles, like the neighbours: for each
        profile, the rows of the profiles similar to it in order of readiness, each carrying
        the latest row ready so far; a row asks its profile's run at its own time."""
        profile, _ = self._profiles()
        n = len(self)
        unknown = np.iinfo(np.int64).min
        at = np.asarray(at, dtype=np.int64)
        ready = np.maximum(at, np.asarray(ready, dtype=np.int64))
        answer = np.full(n, -1, dtype=np.int64)
        known = np.flatnonzero(at != unknown)
        # A row never ready (no action items: the largest int64) answers no one.
        answering = known[ready[known] < np.iinfo(np.int64).max]
        if not answering.size:
            return answer
        profiles = profile.max() + 1
        size = np.bincount(profile[answering], minlength=profiles)
        members = answering[np.argsort(profile[answering], kind="stable")]
        first = np.cumsum(size) - size
        times = _distinct(ready[answering])
        width = np.int64(times.size + 1)
        ready_rank = np.zeros(n, dtype=np.int64)
        ready_rank[answering] = np.searchsorted(times, ready[answering])
        # Each row's place in (at, row) order: the latest is the largest.
        rank = np.zeros(n, dtype=np.int64)
        by_time = answering[np.lexsort((answering, at[answering]))]
        rank[by_time] = np.arange(1, by_time.size + 1)
        span = np.int64(by_time.size + 1)
        packable = float(profiles) * float(width) * float(span) < 2.0**62
        for a, b, _ in self._profile_blocks():
            e, rows = _expand(first[b], size[b])
            seg, rows = a[e], members[rows]
            if not rows.size:
                continue
            key = seg * width + ready_rank[rows]
            del e
            if packable:  # one sort of one array
                packed = np.sort(key * span + rank[rows])
                key, value = packed // span, packed % span
            else:
                order = np.argsort(key)
                key, value = key[order], rank[rows[order]]
            best = np.maximum.accumulate(key // width * span + value)
            in_block = np.zeros(profiles, dtype=bool)
            in_block[a] = True
            asking = known[in_block[profile[known]]]
            ask = profile[asking] * width + np.searchsorted(times, at[asking])
            p = np.searchsorted(key, ask) - 1
            found = (p >= 0) & (key[np.maximum(p, 0)] // width == profile[asking])
            found_rank = best[p[found]] - profile[asking][found] * span
            answer[asking[found]] = by_time[found_rank - 1]
        return answer

    def why(self, i: int, j: int) -> str:
        same = bool(self.service[i] == self.service[j] and self.service[i] >= 0)
        service = self.services[self.service[i]] if same else None
        return why_text(same, service, self._shared("alert", i, j, 5),
                        self._shared("word", i, j, 6))


def _chained(phrases: list[str]) -> list[str]:
    """Overlapping two-word phrases joined: "connection pool" + "pool exhausted" →
    "connection pool exhausted", so a shared sentence reads as one."""
    out = list(phrases)
    merged = True
    while merged:
        merged = False
        for a in range(len(out)):
            for b in range(len(out)):
                left, right = out[a].split(" "), out[b].split(" ")
                if a != b and len(left) > 1 and len(right) > 1 and left[-1] == right[0]:
                    out[a] = " ".join(left + right[1:])
                    del out[b]
                    merged = True
                    break
            if merged:
                break
    return out


def _linked(alerts_shared: np.ndarray, same: np.ndarray, word_sim: np.ndarray,
            words_shared: np.ndarray) -> np.ndarray:
    return ((alerts_shared > 0)
            | (same & (word_sim >= SERVICE_WORDS) & (words_shared > 0))
            | ((words_shared >= MIN_SHARED_WORDS) & (word_sim >= WORDS_ALONE)))


_SEEDS = (0x9E3779B97F4A7C15, 0xD1B54A32D192ED03)
# Beyond this, "nearer in time" is a tie (in the unit `_time_ties` counts).
_FAR = 2**20 - 1


def _distinct(values: np.ndarray, counts: bool = False) -> Any:
    """The sorted distinct values (and how often each occurs), by sorting: numpy 2's
    ``np.unique`` hashes, which costs twenty times as much on millions of int64."""
    values = np.sort(np.asarray(values).ravel())
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if values.size else \
        np.zeros(0, dtype=np.int64)
    if not counts:
        return values[starts]
    return values[starts], np.diff(np.r_[starts, values.size])


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 values (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _same_rows(matrix: sparse.csr_matrix, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Whether each row of `rows` stores exactly what the row of `others` beside it stores."""
    nnz = np.diff(matrix.indptr)
    same = nnz[rows] == nnz[others]
    r, o = rows[same], others[same]
    owner, offset = _expand(np.zeros(r.size, dtype=np.int64), nnz[r])
    x, y = matrix.indptr[r][owner] + offset, matrix.indptr[o][owner] + offset
    differs = (matrix.indices[x] != matrix.indices[y]) | (matrix.data[x] != matrix.data[y])
    bad = np.zeros(r.size, dtype=bool)
    bad[owner[differs]] = True
    same[np.flatnonzero(same)[bad]] = False
    return same


def _expand(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for every position of the ranges ``[start, start + length)``."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.maximum(np.asarray(lengths, dtype=np.int64), 0)
    owner = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    offset = np.arange(owner.size, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths,
                                                                lengths)
    return owner, starts[owner] + offset


def _cross(members: np.ndarray, first: np.ndarray, size: np.ndarray, a: np.ndarray,
           b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entry, i, j) for every row i of profile a[entry] and row j of profile b[entry]."""
    per = size[a] * size[b]
    e, q = _expand(np.zeros(a.size, dtype=np.int64), per)
    width = size[b][e]
    return e, members[first[a][e] + q // width], members[first[b][e] + q % width]


def _rank_within(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2… along each run of equal sorted keys."""
    if not keys.size:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.arange(keys.size) - np.repeat(starts, np.diff(np.r_[starts, keys.size]))


def _time_ties(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """How far apart two stamps are, for ranking: ``|Δ| / 3.6e9`` whole units, capped at
    `_FAR` (an unknown time is as far as can be). The stamps are nanoseconds, so a unit is
    3.6 s, not the hour the name says, and the cap about 44 days: beyond it, row order
    decides. Kept as it ranked before; whole hours would change the groups."""
    with np.errstate(invalid="ignore"):  # two unknown times: -inf - -inf
        hours = np.abs(left - right) / 3.6e9
    return np.minimum(np.nan_to_num(hours, nan=_FAR, posinf=_FAR), _FAR).astype(np.int64)


def _nearest_of_profiles(a: np.ndarray, b: np.ndarray, score: np.ndarray, k: int,
                         profile: np.ndarray, size: np.ndarray, members: np.ndarray,
                         first: np.ndarray,
                         stamps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`SimilarityIndex._nearest` for the rows of the profiles in one block of profile pairs."""
    n = profile.size
    count = size[b] - (a == b)  # a row is not its own neighbour
    keep = count > 0
    a, b, score, count = a[keep], b[keep], score[keep], count[keep]
    if not a.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    closeness = (2**22 - 1) - np.minimum(np.round(score * 1e6), 2**22 - 1)
    order = np.lexsort((b, closeness, a))
    a, b, score, count, closeness = (x[order] for x in (a, b, score, count, closeness))
    new_level = np.r_[True, (a[1:] != a[:-1]) | (closeness[1:] != closeness[:-1])]
    level = np.cumsum(new_level) - 1
    level_count = np.bincount(level, weights=count).astype(np.int64)
    after = np.cumsum(level_count)
    level_a = a[new_level]
    new_profile = np.r_[True, level_a[1:] != level_a[:-1]] if level_a.size else new_level[:0]
    # Rows counted in the profile's higher levels, before each level.
    before = (after - level_count) - np.maximum.accumulate(
        np.where(new_profile, after - level_count, 0))
    whole = (before + level_count <= k)[level]
    partial = ((before < k) & (before + level_count > k))[level]

    # Whole levels: every row of a with every row of b.
    e, i, j = _cross(members, first, size, a[whole], b[whole])
    mine = i != j
    picked_i, picked_j, picked_score = [i[mine]], [j[mine]], [score[whole][e[mine]]]

    # The one level per profile that does not fit: its rows are the candidates.
    seg_a, seg_b = a[partial], b[partial]
    need = np.zeros(size.size, dtype=np.int64)
    need[seg_a] = k - before[level[partial]]
    e, rows = _expand(first[seg_b], size[seg_b])
    seg, rows = seg_a[e], members[rows]
    asking = np.flatnonzero(need[profile] > 0)
    if asking.size and rows.size:
        candidates_i, candidates_j = _level_candidates(
            asking, profile[asking], seg, rows, stamps, k)
        mine = candidates_i != candidates_j
        ci, cj = candidates_i[mine], candidates_j[mine]
        unique = _distinct(ci * np.int64(n) + cj)
        ci, cj = unique // n, unique % n
        hours = _time_ties(stamps[ci], stamps[cj])
        order = np.lexsort((cj, cj < ci, hours, ci))
        ci, cj = ci[order], cj[order]
        rank = _rank_within(ci)
        chosen = rank < need[profile[ci]]
        ci, cj = ci[chosen], cj[chosen]
        # Each pair's own score: the level holds profiles whose scores round alike.
        keys = a * np.int64(size.size) + b
        by_key = np.argsort(keys)
        at = by_key[np.searchsorted(keys[by_key],
                                    profile[ci] * np.int64(size.size) + profile[cj])]
        picked_i.append(ci)
        picked_j.append(cj)
        picked_score.append(score[at])
    return (_stacked(picked_i).astype(np.int64), _stacked(picked_j).astype(np.int64),
            _stacked(picked_score).astype(np.float64))


def _level_candidates(asking: np.ndarray, asking_seg: np.ndarray, seg: np.ndarray,
                      rows: np.ndarray, stamps: np.ndarray,
                      k: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) candidates for each asking row i among the rows of its segment (`seg`, `rows`):
    the nearest in time on each side, widened to all as near, and the first after it and
    from the start in row order (see `SimilarityIndex._nearest`)."""
    reach = k + 2
    n = np.int64(stamps.size + 1)
    parts_i, parts_j = [], []
    # In time order: rows of a segment by stamp (unknown times first, as -inf).
    times = _distinct(stamps[rows])
    width = np.int64(times.size + 1)
    key = seg * width + np.searchsorted(times, stamps[rows])
    order = np.argsort(key, kind="stable")
    key, by_time = key[order], rows[order]
    sorted_stamps = stamps[by_time]
    lo = np.searchsorted(key, asking_seg * width)
    hi = np.searchsorted(key, (asking_seg + 1) * width)
    mine = stamps[asking]
    timed = np.isfinite(mine)
    pos = np.searchsorted(key, asking_seg * width + np.searchsorted(times, mine))
    left_far = np.maximum(lo, pos - reach)
    right_far = np.minimum(hi - 1, pos + reach - 1)
    margin = 2 * 3.6e9  # two units: rounding cannot move a row across the bound
    with np.errstate(invalid="ignore"):
        d_left = np.where(pos > lo, mine - sorted_stamps[np.minimum(left_far, key.size - 1)], 0.0)
        d_right = np.where(pos < hi, sorted_stamps[np.minimum(right_far, key.size - 1)] - mine,
                           0.0)
        low_bound = np.where(timed, mine - d_left - margin, np.inf)
        high_bound = np.where(timed, mine + d_right + margin, -np.inf)
    start = np.maximum(lo, np.searchsorted(key, asking_seg * width
                                           + np.searchsorted(times, low_bound)))
    stop = np.minimum(hi, np.searchsorted(key, asking_seg * width
                                          + np.searchsorted(times, high_bound, side="right")))
    owner, at = _expand(start, stop - start)
    parts_i.append(asking[owner])
    parts_j.append(by_time[at])
    # In row order: the first rows after this one, and the first of the segment.
    key = seg * n + rows
    order = np.argsort(key, kind="stable")
    key, by_row = key[order], rows[order]
    lo = np.searchsorted(key, asking_seg * n)
    hi = np.searchsorted(key, (asking_seg + 1) * n)
    after = np.searchsorted(key, asking_seg * n + asking, side="right")
    for start in (after, lo):
        owner, at = _expand(start, np.minimum(start + reach, hi) - start)
        parts_i.append(asking[owner])
        parts_j.append(by_row[at])
    return np.concatenate(parts_i), np.concatenate(parts_j)


def _stacked(parts: list[np.ndarray]) -> np.ndarray:
    """The blocks' arrays as one (an empty float array when no block had any)."""
    return np.concatenate(parts) if parts else np.zeros(0)


def _pair_frame(left: np.ndarray, right: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"left": np.asarray(left, dtype=np.int64),
                         "right": np.asarray(right, dtype=np.int64),
                         "score": np.asarray(score, dtype=float)})


def _stamps(times: pd.Series) -> np.ndarray:
    """Each time as nanoseconds (a float; -inf for none), so later sorts higher."""
    utc = pd.to_datetime(times, utc=True)
    nanos = utc.to_numpy(dtype="datetime64[ns]").view(np.int64).astype(float)
    return np.where(utc.isna().to_numpy(), -np.inf, nanos)


def why_text(same_service: bool, service: str | None, alerts: Sequence[str],
             words: Sequence[str]) -> str:
    """"same service checkout; same alert HighErrorRate; rare words: pgbouncer, pool exhausted"."""
    parts = []
    if same_service and service:
        parts.append(f"same service {service}")
    if alerts:
        parts.append(("same alert " if len(alerts) == 1 else "same alerts ") + ", ".join(alerts))
    if words:
        parts.append("rare words: " + ", ".join(words))
    return "; ".join(parts)


# --- what a retrospective shows ------------------------------------------------------------------
def item_state(status: Any, due: Any, asof: pd.Timestamp) -> str:
    """An action item's state as a reader wants it: done, won't fix, overdue or open."""
    status = str(status or "open").lower()
    if status == "done":
        return "done"
    if status == "wontfix":
        return "won't fix"
    due_day = pd.to_datetime(due, errors="coerce") if due not in (None, "") else pd.NaT
    if pd.notna(due_day) and due_day.date() < pd.Timestamp(asof).date():
        return "overdue"
    return "open"


def seen_before(matches: pd.DataFrame, incidents: pd.DataFrame, action_items: pd.DataFrame,
                asof: Any) -> list[dict[str, Any]]:
    """The similar past incidents (`SimilarityIndex.similar_to`) as a retrospective lists them:
    incident_id, title, date, severity, why, score, and their action items (title, owner,
    state: done / open / overdue / won't fix, due, closed) in the order they were opened."""
    asof = pd.Timestamp(asof)
    asof = asof.tz_localize("UTC") if asof.tzinfo is None else asof.tz_convert("UTC")
    known = incidents.assign(incident_id=incidents["incident_id"].astype(str)).set_index(
        "incident_id")
    items = action_items.assign(incident_id=action_items["incident_id"].astype(str)) \
        if len(action_items) else action_items
    cards = []
    for match in matches.to_dict("records"):
        row = known.loc[match["incident_id"]] if match["incident_id"] in known.index else {}
        created = row.get("created_at") if len(row) else None
        mine = items[items["incident_id"] == match["incident_id"]] if len(items) else items
        cards.append({
            "incident_id": match["incident_id"],
            "title": _clean(row.get("title")) if len(row) else None,
            "date": pd.Timestamp(created).strftime("%Y-%m-%d") if created is not None
            and pd.notna(created) else "",
            "severity": _clean(row.get("severity")) if len(row) else None,
            "why": match["why"], "score": match["score"],
            "action_items": [{
                "title": _clean(item.get("title")) or "",
                "owner": _clean(item.get("owner")) or "",
                "state": item_state(item.get("status"), item.get("due"), asof),
                "due": str(item.get("due"))[:10] if _clean(item.get("due")) else "",
                "closed": pd.Timestamp(item["closed_at"]).strftime("%Y-%m-%d")
                if item.get("closed_at") is not None and pd.notna(item.get("closed_at")) else "",
            } for item in mine.to_dict("records")],
        })
    return cards


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def nothing_similar_text(considered: int, since: Any) -> str:
    """"No similar incident among 1,282 since 2010." (the empty state is never silent)."""
    if considered == 0:
        return "No earlier incident in the store to compare with."
    year = f" since {pd.Timestamp(since).year}" if since is not None and pd.notna(since) else ""
    return f"No similar incident among {considered:,}{year}."


def _values_at(matrix: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows, cols]`` as a flat array (0 where nothing is stored), by binary search
    in the sorted (row, column) keys: scipy's fancy indexing costs ten times as much on the
    million pairs of a big history."""
    matrix = matrix.tocsr()
    matrix.sum_duplicates()  # canonical: sorted column indices within each row
    width = np.int64(matrix.shape[1])
    stored_rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    keys = stored_rows * width + matrix.indices.astype(np.int64)
    wanted = rows.astype(np.int64) * width + cols.astype(np.int64)
    if not keys.size:
        return np.zeros(len(wanted), dtype=matrix.dtype)
    at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    return np.where(keys[at] == wanted, matrix.data[at], 0).astype(matrix.dtype, copy=False)
