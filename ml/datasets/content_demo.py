"""Demo articles in English and Chinese about a store's products, and a read log that follows
hidden topic preferences: deterministic (one ``numpy.random.Generator``), pure numpy.

Each article covers one product category (its topic), links one to three products of it, and
is written in English or Chinese from per-topic vocabularies with words every topic shares, so
texts overlap as real ones do. Each reader holds a hidden taste (a point in a space of interests
where topics have places too, so interests span topics whose words differ) and a preferred
language; they read articles published before the moment, mostly of their topics and
language, mostly fresh ones, better articles more often (a hidden quality). A read's dwell time
is long when the article matches the reader's taste and short (sometimes a bounce) when not.
None of the hidden truth is stored with the articles or reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400
INTEREST_DIMS = 4
FORMATS = ("article", "review", "guide", "video")
# topic (a demo leaf category) -> (English words, Chinese noun, Chinese words)
TOPICS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "electronics/phones": (
        ("battery", "screen", "camera", "charging", "signal", "storage", "apps"),
        "手机",
        ("电池", "屏幕", "拍照", "充电", "信号", "内存", "系统"),
    ),
    "electronics/laptops": (
        ("keyboard", "processor", "display", "memory", "ports", "battery", "weight"),
        "笔记本电脑",
        ("键盘", "处理器", "显示屏", "内存", "接口", "续航", "重量"),
    ),
    "electronics/audio": (
        ("sound", "bass", "noise", "cancelling", "bluetooth", "earbuds", "volume"),
        "耳机",
        ("音质", "低音", "降噪", "蓝牙", "佩戴", "音量", "耳塞"),
    ),
    "home/kitchen": (
        ("recipe", "blade", "coffee", "cooking", "pan", "heat", "cleaning"),
        "厨具",
        ("菜谱", "刀具", "咖啡", "烹饪", "锅具", "火候", "清洗"),
    ),
    "home/furniture": (
        ("chair", "wood", "comfort", "assembly", "desk", "shelf", "lamp"),
        "家具",
        ("椅子", "木材", "舒适", "组装", "书桌", "书架", "台灯"),
    ),
    "home/garden": (
        ("plants", "soil", "watering", "seeds", "pruning", "flowers", "lawn"),
        "园艺工具",
        ("植物", "土壤", "浇水", "种子", "修剪", "花卉", "草坪"),
    ),
    "fashion/women": (
        ("dress", "fabric", "fit", "colour", "style", "blouse", "summer"),
        "女装",
        ("连衣裙", "面料", "版型", "颜色", "风格", "衬衫", "夏装"),
    ),
    "fashion/men": (
        ("shirt", "tailoring", "jacket", "cotton", "wardrobe", "collar", "trousers"),
        "男装",
        ("衬衫", "剪裁", "夹克", "棉质", "衣橱", "领口", "裤子"),
    ),
    "fashion/shoes": (
        ("sneakers", "sole", "leather", "sizing", "running", "boots", "laces"),
        "鞋子",
        ("运动鞋", "鞋底", "皮革", "尺码", "跑步", "靴子", "鞋带"),
    ),
    "sports/fitness": (
        ("workout", "yoga", "strength", "training", "weights", "stretching", "muscles"),
        "健身器材",
        ("锻炼", "瑜伽", "力量", "训练", "哑铃", "拉伸", "肌肉"),
    ),
    "sports/outdoor": (
        ("hiking", "tent", "trail", "camping", "waterproof", "backpack", "mountain"),
        "户外装备",
        ("徒步", "帐篷", "山路", "露营", "防水", "背包", "登山"),
    ),
    "beauty/skincare": (
        ("skin", "moisture", "serum", "sunscreen", "routine", "hydration", "sensitive"),
        "护肤品",
        ("皮肤", "保湿", "精华", "防晒", "护肤", "补水", "敏感"),
    ),
    "books/fiction": (
        ("novel", "story", "characters", "author", "plot", "chapter", "mystery"),
        "小说",
        ("故事", "人物", "作者", "情节", "章节", "悬疑", "结局"),
    ),
    "books/nonfiction": (
        ("history", "biography", "travel", "cookbook", "facts", "research", "memoir"),
        "非虚构图书",
        ("历史", "传记", "旅行", "食谱", "知识", "研究", "回忆录"),
    ),
    "toys/kids": (
        ("children", "play", "puzzle", "blocks", "learning", "game", "safety"),
        "玩具",
        ("孩子", "游戏", "拼图", "积木", "学习", "益智", "安全"),
    ),
}
SHARED_EN = (
    "price", "quality", "value", "tested", "season", "best", "buy", "worth", "compare",
    "budget", "premium", "daily", "tips", "review", "guide", "choose",
)  # fmt: skip
SHARED_ZH = ("价格", "质量", "性价比", "测试", "推荐", "选购", "值得", "对比", "预算", "日常")
TITLES_EN = {
    "guide": "Buying guide: how to choose {noun} by {word}",
    "review": "{product} review: {word} and {word2} tested",
    "article": "{count} things to know about {word} before you buy",
    "video": "Video: unboxing the {product}",
}
TITLES_ZH = {
    "guide": "选购指南：如何挑选{noun}",
    "review": "{product}评测：{word}和{word2}",
    "article": "购买{noun}之前要知道的{count}件事",
    "video": "视频：{product}开箱",
}


@dataclass
class DemoArticles:
    ids: np.ndarray
    titles: list[str]
    texts: list[str]
    topics: np.ndarray  # category path of each article (stored as its category)
    languages: np.ndarray
    formats: np.ndarray
    authors: list[str]
    products: list[list[str]]
    published: np.ndarray  # unix seconds
    quality: np.ndarray  # hidden


@dataclass
class DemoReads:
    users: np.ndarray  # index into the user ids given
    articles: np.ndarray  # index into the articles
    dwell: np.ndarray  # seconds
    times: np.ndarray  # unix seconds
    tastes: np.ndarray  # hidden: readers x topics affinity
    languages: np.ndarray  # hidden: each reader's language


def _topic_words(topic: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    if topic in TOPICS:
        return TOPICS[topic]
    words = tuple(part for part in topic.replace("_", " ").split("/") if part) or ("shop",)
    return words, words[-1], words


def generate_articles(
    rng: np.random.Generator,
    product_ids,
    product_titles,
    product_categories,
    n_articles: int,
    start: int,
    end: int,
    chinese_share: float = 0.35,
) -> DemoArticles:
    """``n_articles`` articles about the products, published between 30 days before ``start``
    and ``end`` (epoch seconds)."""
    if n_articles < 1 or not len(product_ids):
        raise ValueError("need at least one article and one product")
    product_ids = np.asarray(product_ids, str)
    categories = np.asarray(product_categories, str)
    topics = sorted(set(categories.tolist()))
    by_topic = {t: np.flatnonzero(categories == t) for t in topics}
    authors = ("Mia Chen", "Lukas Weber", "Sofia Rossi", "王芳", "李明", "Ana García")
    ids, titles, texts, article_topics, languages, formats, writers, links = ([] for _ in range(8))
    for n in range(n_articles):
        topic = topics[rng.integers(len(topics))]
        english, noun_zh, chinese = _topic_words(topic)
        language = "zh" if rng.random() < chinese_share else "en"
        kind = FORMATS[rng.integers(len(FORMATS))]
        count = 1 if kind in ("review", "video") else int(rng.integers(2, 4))
        picked = rng.choice(by_topic[topic], size=min(count, len(by_topic[topic])), replace=False)
        product = str(np.asarray(product_titles)[picked[0]])
        words, word2 = rng.choice(english, 2, replace=False).tolist()
        if language == "en":
            noun = english[0] if topic not in TOPICS else topic.split("/")[-1]
            title = TITLES_EN[kind].format(
                noun=noun, word=words, word2=word2, product=product, count=int(rng.integers(3, 9))
            )
            body = _english_body(rng, english, product)
        else:
            zh_word, zh_word2 = rng.choice(chinese, 2, replace=False).tolist()
            title = TITLES_ZH[kind].format(
                noun=noun_zh,
                word=zh_word,
                word2=zh_word2,
                product=product,
                count=int(rng.integers(3, 9)),
            )
            body = _chinese_body(rng, chinese, noun_zh, product)
        ids.append(f"content-{language}-{n + 1:04d}")
        titles.append(title)
        texts.append(body)
        article_topics.append(topic)
        languages.append(language)
        formats.append(kind)
        writers.append(authors[rng.integers(len(authors))])
        links.append(product_ids[picked].tolist())
    published = rng.uniform(start - 30 * DAY, end - DAY, size=n_articles)
    return DemoArticles(
        ids=np.array(ids),
        titles=titles,
        texts=texts,
        topics=np.array(article_topics),
        languages=np.array(languages),
        formats=np.array(formats),
        authors=writers,
        products=links,
        published=published,
        quality=rng.normal(0.0, 0.6, size=n_articles),
    )


def _english_body(rng, words, product: str) -> str:
    sentences = []
    for _ in range(int(rng.integers(3, 6))):
        topic_words = rng.choice(words, 3, replace=False).tolist()
        shared = rng.choice(SHARED_EN, 3, replace=False).tolist()
        mixed = rng.permutation(topic_words + shared).tolist()
        sentences.append(" ".join(mixed).capitalize() + ".")
    sentences.insert(int(rng.integers(len(sentences))), f"We looked closely at the {product}.")
    return " ".join(sentences)


def _chinese_body(rng, words, noun: str, product: str) -> str:
    sentences = []
    for _ in range(int(rng.integers(3, 6))):
        topic_words = rng.choice(words, 3, replace=False).tolist()
        shared = rng.choice(SHARED_ZH, 2, replace=False).tolist()
        sentences.append("，".join(rng.permutation(topic_words + shared).tolist()) + "。")
    sentences.insert(int(rng.integers(len(sentences))), f"我们仔细体验了{product}这款{noun}。")
    return "".join(sentences)


def generate_reads(
    rng: np.random.Generator,
    articles: DemoArticles,
    n_users: int,
    start: int,
    end: int,
    reads_per_user: float = 15.0,
    chinese_readers: float = 0.35,
) -> DemoReads:
    """Reads between ``start`` and ``end`` by ``n_users`` readers with hidden tastes."""
    topics = sorted(set(articles.topics.tolist()))
    topic_of = np.array([topics.index(t) for t in articles.topics.tolist()])
    # Topics sit in a hidden space of interests (phones near audio, hiking near boots): who
    # reads one reads its neighbours, though their words differ.
    topic_vectors = rng.normal(0.0, 1.0, size=(len(topics), INTEREST_DIMS))
    reader_vectors = rng.normal(0.0, 1.0, size=(n_users, INTEREST_DIMS))
    tastes = reader_vectors @ topic_vectors.T / np.sqrt(INTEREST_DIMS)
    languages = np.where(rng.random(n_users) < chinese_readers, "zh", "en")
    users, chosen, dwell, times = [], [], [], []
    counts = rng.poisson(reads_per_user, size=n_users)
    for user in range(n_users):
        moments = np.sort(rng.uniform(start, end, size=counts[user]))
        read = np.zeros(len(articles.ids), bool)
        match = tastes[user][topic_of]
        language = articles.languages == languages[user]
        for moment in moments.tolist():
            open_ = (articles.published <= moment) & ~read
            if not open_.any():
                continue
            age_days = (moment - articles.published) / DAY
            appeal = 2.5 * match + 1.2 * language + articles.quality - age_days / 6.0
            weights = np.where(open_, np.exp(appeal - appeal[open_].max()), 0.0)
            article = int(rng.choice(len(weights), p=weights / weights.sum()))
            read[article] = True
            liked = match[article] > 0.5 and bool(language[article])
            seconds = rng.lognormal(np.log(100.0 if liked else 12.0), 0.6)
            users.append(user)
            chosen.append(article)
            dwell.append(round(float(seconds), 1))
            times.append(moment)
    return DemoReads(
        users=np.array(users, np.int64),
        articles=np.array(chosen, np.int64),
        dwell=np.array(dwell),
        times=np.array(times),
        tastes=tastes,
        languages=languages,
    )
