"""Loaders for the GroupLens MovieLens 100K and 1M files (original formats, latin-1).

100K: ``u.data`` (tab-separated user, item, rating, unix time), ``u.item`` (pipe-separated, 19
genre flags), ``u.user`` (id|age|gender|occupation|zip) and ``u.genre``.
1M: ``ratings.dat``, ``movies.dat`` (genres joined by ``|``), ``users.dat`` (occupation as a
code), all separated by ``::``.

Ratings become ``Interactions.values``; item and user tables are optional (``None`` when the
file is absent) since only the ratings file is needed to train.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.data import Interactions
from ml.datasets.common import dataset_path

ENCODING = "latin-1"
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


@dataclass(frozen=True)
class MovieItems:
    """Movie side table; ``genres`` is a 0/1 matrix [n_items, len(genre_names)]."""

    ids: np.ndarray
    titles: np.ndarray
    genres: np.ndarray
    genre_names: tuple[str, ...]
    release_dates: np.ndarray  # as written in the file ("01-Jan-1995"); "" when unknown (1M)


@dataclass(frozen=True)
class MovieUsers:
    """User demographics; 1M stores occupation as a numeric code (kept as its string)."""

    ids: np.ndarray
    ages: np.ndarray
    genders: np.ndarray
    occupations: np.ndarray
    zip_codes: np.ndarray


@dataclass(frozen=True)
class MovieLens:
    interactions: Interactions
    items: MovieItems | None
    users: MovieUsers | None


def _read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding=ENCODING).splitlines() if line.strip()]


def _split_rows(path: Path, separator: str, n_fields: int) -> list[list[str]]:
    rows = []
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split(separator)
        if len(fields) != n_fields:
            raise ValueError(
                f"{path}: line {number} has {len(fields)} fields, expected {n_fields}: {line!r}"
            )
        rows.append(fields)
    return rows


def _ratings(path: Path, separator: str) -> Interactions:
    if not path.is_file():
        raise FileNotFoundError(f"MovieLens ratings file not found: {path}")
    rows = _split_rows(path, separator, 4)
    if not rows:
        raise ValueError(f"{path} holds no ratings")
    table = np.array(rows, dtype=str)
    try:
        values = table[:, 2].astype(np.float32)
        timestamps = table[:, 3].astype(np.int64)
    except ValueError as error:
        raise ValueError(f"{path}: ratings and timestamps must be numbers ({error})") from None
    return Interactions(table[:, 0], table[:, 1], values, timestamps)


def load_movielens_100k(folder: str | Path | None = None) -> MovieLens:
    """Read ml-100k from ``folder`` (default: the shared ``movielens-100k``)."""
    folder = Path(folder) if folder is not None else dataset_path("movielens-100k")
    interactions = _ratings(folder / "u.data", "\t")
    items = users = None
    if (folder / "u.item").is_file():
        genre_names = GENRES_100K
        if (folder / "u.genre").is_file():
            genre_names = tuple(row[0] for row in _split_rows(folder / "u.genre", "|", 2))
        rows = _split_rows(folder / "u.item", "|", 5 + len(genre_names))
        table = np.array(rows, dtype=str)
        items = MovieItems(
            ids=table[:, 0],
            titles=table[:, 1],
            genres=table[:, 5:].astype(np.int8),
            genre_names=genre_names,
            release_dates=table[:, 2],
        )
    if (folder / "u.user").is_file():
        table = np.array(_split_rows(folder / "u.user", "|", 5), dtype=str)
        users = MovieUsers(table[:, 0], table[:, 1].astype(np.int64), *table[:, 2:].T)
    return MovieLens(interactions, items, users)


def load_movielens_1m(folder: str | Path | None = None) -> MovieLens:
    """Read ml-1m from ``folder`` (default: the shared ``movielens-1m``)."""
    folder = Path(folder) if folder is not None else dataset_path("movielens-1m")
    interactions = _ratings(folder / "ratings.dat", "::")
    items = users = None
    if (folder / "movies.dat").is_file():
        rows = _split_rows(folder / "movies.dat", "::", 3)
        genre_lists = [row[2].split("|") if row[2] else [] for row in rows]
        genre_names = tuple(sorted({genre for genres in genre_lists for genre in genres}))
        column = {name: i for i, name in enumerate(genre_names)}
        genres = np.zeros((len(rows), len(genre_names)), dtype=np.int8)
        for row, names in enumerate(genre_lists):
            genres[row, [column[name] for name in names]] = 1
        items = MovieItems(
            ids=np.array([row[0] for row in rows], dtype=str),
            titles=np.array([row[1] for row in rows], dtype=str),
            genres=genres,
            genre_names=genre_names,
            release_dates=np.full(len(rows), "", dtype=str),
        )
    if (folder / "users.dat").is_file():
        table = np.array(_split_rows(folder / "users.dat", "::", 5), dtype=str)
        users = MovieUsers(
            ids=table[:, 0],
            ages=table[:, 2].astype(np.int64),
            genders=table[:, 1],
            occupations=table[:, 3],
            zip_codes=table[:, 4],
        )
    return MovieLens(interactions, items, users)
