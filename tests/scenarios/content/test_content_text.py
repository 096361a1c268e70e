"""The article text encoders and the feed ranker (ml.models.article_text), on a tiny planted
catalogue: four topics, English and Chinese texts, readers who each read one topic."""

import numpy as np
import pytest
import scipy.sparse as sp

from ml.models.article_text import (
    ArticleRanker,
    ReadLog,
    TextEncoder,
    fit_ranker,
    freshness,
    make_encoder,
    tune_weights,
)

TOPICS = [
    ("phone battery screen camera charger", "手机 电池 屏幕"),
    ("laptop keyboard memory processor", "笔记本 电脑 键盘"),
    ("garden hose plant soil seeds", "花园 植物 种子"),
    ("novel story author chapter", "小说 故事 作者"),
]


def catalogue(n=80, seed=0):
    rng = np.random.default_rng(seed)
    topic = np.arange(n) % len(TOPICS)
    texts = []
    for i, t in enumerate(topic):
        english, chinese = TOPICS[t]
        words = " ".join(rng.choice(english.split(), 6))
        texts.append(chinese if i % 5 == 0 else f"{words} {chinese}" if i % 3 == 0 else words)
    readers = np.repeat(np.arange(40), 5)
    items = np.array([rng.choice(np.flatnonzero(topic == r % 4)) for r in readers])
    reads = sp.csr_matrix((np.ones(len(readers)), (readers, items)), shape=(40, n))
    return texts, topic, reads


def separation(vectors, topic):
    similarity = vectors @ vectors.T
    same = topic[:, None] == topic[None, :]
    np.fill_diagonal(same, False)
    other = topic[:, None] != topic[None, :]
    return similarity[same].mean() - similarity[other].mean()


@pytest.mark.parametrize(
    ("name", "params"),
    [("tfidf_svd", {"dim": 8, "min_count": 1}), ("tf", {"dim": 16, "epochs": 4, "min_count": 1})],
)
def test_each_encoder_separates_topics_and_round_trips(name, params, tmp_path):
    texts, topic, reads = catalogue()
    encoder = make_encoder(name, params).fit(texts, reads)
    vectors = encoder.encode(texts)
    assert vectors.shape == (len(texts), params["dim"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert separation(vectors, topic) > 0.3
    # a Chinese-only text lands with its topic's English texts
    chinese_only = encoder.encode([TOPICS[0][1]])[0]
    assert int(np.argmax([vectors[topic == t].mean(0) @ chinese_only for t in range(4)])) == 0
    encoder.save(tmp_path / "encoder")
    loaded = TextEncoder.load(tmp_path / "encoder")
    assert np.allclose(loaded.encode(texts), vectors, atol=1e-6)


def test_the_tf_encoder_learns_from_reads_where_texts_say_nothing():
    """Texts of two topics share no word with their readers' other topic: only reads tie
    article 'alpha' to 'beta' texts, and the read-trained encoder learns that tie."""
    texts = ["alpha one"] * 10 + ["beta two"] * 10 + ["gamma three"] * 10
    readers = np.repeat(np.arange(30), 2)
    rng = np.random.default_rng(1)
    items = np.array(
        [rng.integers(0, 10) if k % 2 == 0 else rng.integers(10, 20) for k in range(60)]
    )
    items[40:] = rng.integers(20, 30, size=20)
    reads = sp.csr_matrix((np.ones(60), (readers, items)), shape=(30, 30))
    tf_vectors = (
        make_encoder("tf", {"dim": 8, "epochs": 30, "min_count": 1, "self_weight": 0.1})
        .fit(texts, reads)
        .encode(texts)
    )
    lsa = make_encoder("tfidf_svd", {"dim": 3, "min_count": 1}).fit(texts).encode(texts)
    assert tf_vectors[0] @ tf_vectors[15] > tf_vectors[0] @ tf_vectors[25] + 0.2
    assert abs(lsa[0] @ lsa[15]) < 0.05  # the texts alone relate nothing


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        make_encoder("tfidf_svd", {"epochs": 3})
    with pytest.raises(ValueError, match="dim"):
        make_encoder("tf", {"dim": 0})
    with pytest.raises(ValueError, match="text encoder"):
        make_encoder("bert")


def test_the_ranker_never_recommends_a_read_article_and_decays_with_age():
    vectors = np.eye(4, dtype=np.float32)
    published = np.array([0.0, 0.0, 9 * 86400.0, 10 * 86400.0])
    ranker = ArticleRanker(
        vectors=vectors,
        co_reads=sp.csr_matrix((4, 4), dtype=np.float32),
        popularity=np.array([1.0, 0.5, 0.2, 0.1], np.float32),
        published=published,
        text_weight=1.0,
        freshness_weight=1.0,
    )
    reads = sp.csr_matrix(([1.0], ([0], [3])), shape=(1, 4))
    lists = ranker.recommend(reads, now=10 * 86400.0, n=4)
    assert 3 not in lists[0] and lists[0][0] == 2  # the newest unread first
    fresh = freshness(published, 10 * 86400.0, 1.0)
    assert fresh[3] == 1.0 and fresh[2] == pytest.approx(0.5)


def test_tuning_picks_the_weights_that_predict_later_reads():
    texts, topic, reads = catalogue()
    rng = np.random.default_rng(3)
    readers, items = reads.nonzero()
    log = ReadLog(
        texts=texts,
        published=np.zeros(len(texts)),
        users=readers,
        items=items,
        weights=np.ones(len(readers), np.float32),
        times=rng.uniform(0, 100, size=len(readers)),
        n_users=reads.shape[0],
    )
    train, held = log.window(log.cut(0.7))
    ranker, _, _ = fit_ranker(log, train, "tfidf_svd", {"dim": 8, "min_count": 1})
    (text_weight, fresh_weight), grid = tune_weights(ranker, train, held, now=100.0)
    assert grid[(text_weight, fresh_weight)] == max(grid.values())
    assert text_weight > 0  # topics live in the text: text similarity must count
    assert grid[(text_weight, fresh_weight)] > grid[(0.0, 0.5)]


def test_a_stored_zero_is_no_read():
    """Masking a matrix by multiplication can keep explicit zeros: training must not take them
    for reads (they once leaked held-out items into training)."""
    from ml.models.article_text import ReadTextEncoder

    # reader 0 read articles 0 and 1; reader 1 read 0 and 1, with a stored zero for 2
    reads = sp.csr_matrix(
        (np.array([1.0, 1.0, 1.0, 1.0, 0.0]), np.array([0, 1, 0, 1, 2]), np.array([0, 2, 5])),
        shape=(2, 3),
    )
    assert reads.nnz == 5
    pairs, histories = ReadTextEncoder()._pairs(reads, 3, np.random.default_rng(0))
    assert len(pairs) == 4 and 2 not in pairs[:, 1] and 2 not in histories
