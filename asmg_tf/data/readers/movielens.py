"""MovieLens ratings as explicit feedback (label = rating >= 4 is set later, in preprocessing).

Three layouts, found in a folder (or given as the ratings file, the movie file being looked up beside it):

* latest / 20M / 25M: ``ratings.csv`` (userId,movieId,rating,timestamp) + ``movies.csv`` (genres '|'-joined);
* 100K: ``u.data`` (tab separated user, item, rating, timestamp) + ``u.item`` ('|' separated, 19 genre flags,
  genre names from ``u.genre`` when present);
* 1M: ``ratings.dat`` or ``ratings.dat.gz`` (``UserID::MovieID::Rating::Timestamp``) + ``movies.dat`` (latin-1).

Genres become the multi-category ``item_categories`` ({movie id: [genre names]}; "(no genres listed)" counts as a
genre). ``start``/``end`` optionally keep a date window (the paper: 2014-01-01..2018-12-31 on ML-25M; the end date
is inclusive). Timestamps are unix seconds, dates are UTC.
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import pandas as pd

from asmg_tf.data.errors import DataError
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.readers import _common as c

RATING_FILES = ("ratings.csv", "u.data", "ratings.dat", "ratings.dat.gz")
MOVIE_FILES = {
    "ratings.csv": "movies.csv",
    "u.data": "u.item",
    "ratings.dat": "movies.dat",
    "ratings.dat.gz": "movies.dat",
}
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_COLS = ["user", "item", "rating", "timestamp"]


def _read_ratings(file: str) -> pd.DataFrame:
    base = os.path.basename(file).lower()
    if base.endswith(".dat") or base.endswith(".dat.gz"):
        # "1::1193::5::978300760" split on ':' gives empty fields between; the C parser reads that fast
        df = c.read_csv(file, sep=":", header=None, usecols=[0, 2, 4, 6], names=list(range(7)), dtype=str)
        df.columns = _COLS
        return df
    if base == "u.data" or base.endswith(".tsv"):
        return c.read_csv(file, sep="\t", header=None, names=_COLS, dtype=str)
    df = c.read_csv(file, dtype=str)
    c.require_columns(df, ["userId", "movieId", "rating", "timestamp"], file, "expected MovieLens ratings.csv")
    return df.rename(columns={"userId": "user", "movieId": "item"})[_COLS]


def _open_text(path: str):
    if path.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="latin-1")
    return open(path, encoding="latin-1")


def _read_genres(file: str) -> dict:
    """{movie id (int): [genre names]} from movies.csv, movies.dat or u.item."""
    base = os.path.basename(file).lower()
    genres: dict = {}
    if base.endswith(".csv"):
        df = c.read_csv(file, dtype=str, keep_default_na=False)
        c.require_columns(df, ["movieId", "genres"], file, "expected MovieLens movies.csv")
        ids = c.to_int64(df["movieId"], file, "movieId", "a movie id")
        for mid, g in zip(ids.tolist(), df["genres"].tolist()):
            genres[mid] = [x for x in g.split("|") if x] or ["(no genres listed)"]
        return genres
    if base == "u.item":
        names = list(ML100K_GENRES)
        genre_file = os.path.join(os.path.dirname(file), "u.genre")
        if os.path.isfile(genre_file):
            with _open_text(genre_file) as f:
                pairs = [line.strip().rsplit("|", 1) for line in f if line.strip()]
            names = [n for n, _ in sorted(pairs, key=lambda p: int(p[1]))]
        with _open_text(file) as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                parts = line.rstrip("\r\n").split("|")
                flags = parts[-len(names) :]
                if len(parts) < len(names) + 2 or not all(x in ("0", "1") for x in flags):
                    raise DataError(f"expected an id, a title and {len(names)} genre flags", path=file, row=line_no)
                genres[int(parts[0])] = [n for n, x in zip(names, flags) if x == "1"] or ["unknown"]
        return genres
    with _open_text(file) as f:  # movies.dat: MovieID::Title::Genres (titles may hold ':')
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("::")
            if len(parts) < 3 or not parts[0].strip().isdigit():
                raise DataError("expected MovieID::Title::Genres", path=file, row=line_no)
            genres[int(parts[0])] = [x for x in parts[-1].split("|") if x] or ["(no genres listed)"]
    return genres


def read(path: str, *, start=None, end=None, movies: str | None = None, positive_rating: float = 4.0) -> Interactions:
    """Read MovieLens ratings (+ genres) from a folder or a ratings file; see the module docstring."""
    file = c.find_file(path, RATING_FILES, "MovieLens ratings file")
    raw = _read_ratings(file)
    dropped: dict = {}
    df = c.drop_missing(raw, _COLS, dropped)
    events = pd.DataFrame(
        {
            "user": c.to_int64(df["user"], file, "userId", "a user id"),
            "item": c.to_int64(df["item"], file, "movieId", "a movie id"),
            "rating": c.to_numeric(df["rating"], file, "rating", "a rating").astype(np.float32),
            "timestamp": c.to_unix_seconds(df["timestamp"], file, "timestamp"),
        },
        index=df.index,
    )
    events = c.apply_window(
        events, c.parse_bound(start, file, "start"), c.parse_bound(end, file, "end", end=True), dropped
    )
    c.ensure_rows(events, file, dropped)
    movie_file = movies
    if movie_file is None:
        candidate = os.path.join(os.path.dirname(file), MOVIE_FILES[_canonical(file)])
        movie_file = candidate if os.path.isfile(candidate) else None
    item_categories = _read_genres(movie_file) if movie_file else None
    if item_categories is not None:
        present = set(np.unique(events["item"].to_numpy()).tolist())
        item_categories = {k: v for k, v in item_categories.items() if k in present}
    return Interactions(
        name=c.dataset_name(path if os.path.isdir(path) else os.path.dirname(file) or file),
        kind="movielens",
        events=events,
        explicit=True,
        positive_rating=positive_rating,
        item_categories=item_categories,
        dropped=dropped,
        source=file,
    )


def _canonical(file: str) -> str:
    base = os.path.basename(file).lower()
    if base in MOVIE_FILES:
        return base
    return "ratings.dat" if ".dat" in base else "ratings.csv"
