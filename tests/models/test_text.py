"""Text columns in the classical models: TF-IDF linear contestants, the TF-IDF -> SVD reduction
for every other classical model, routing by the data card's kinds, and the torch-free path."""

from __future__ import annotations

import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from bakeoff.models import classical, text
from bakeoff.models.network_inputs import Pixels
from bakeoff.models.tabular import TabularModel
from bakeoff.models.text_features import TextComponents, TfidfText, documents
from conftest import NEGATIVE, POSITIVE, PROJECT_ROOT, reviews

KINDS = {"review": "text", "runtime": "numeric", "genre": "categorical"}
# Every classical contestant, small where size costs time.
FACTORIES = [
    (text.tfidf_logreg, {}),
    (text.tfidf_svm, {}),
    (classical.dummy, {}),
    (classical.linear, {"text_components": 8}),
    (classical.random_forest, {"n_estimators": 30, "random_state": 0, "text_components": 8}),
    (classical.hist_gradient_boosting, {"max_iter": 30, "text_components": 8}),
    (classical.extra_trees, {"n_estimators": 30, "random_state": 0, "text_components": 8}),
    (classical.knn, {"n_neighbors": 5, "text_components": 8}),
    (classical.svm, {"random_state": 0, "text_components": 8}),
]


@pytest.fixture(scope="module")
def split():
    frame, y = reviews(300)
    return frame[:200], y[:200], frame[200:], y[200:]


def test_documents_are_strings_with_missing_as_empty():
    column = pd.Series(["a b", None, np.nan, "c"], dtype="str")
    assert documents(column) == ["a b", "", "", "c"]
    assert documents(column.to_frame()) == ["a b", "", "", "c"]
    with pytest.raises(ValueError, match="one column"):
        documents(pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_tfidf_vocabulary_comes_from_the_training_documents_only():
    tfidf = TfidfText(min_df=1).fit(pd.Series(["good film", "bad film"]))
    names = set(tfidf.get_feature_names_out())
    assert {"word__good", "word__good film", "char__ go"} <= names
    assert not any("zebra" in n for n in names)
    unseen = tfidf.transform(pd.Series(["zebra zebra"]))
    assert unseen[:, [i for i, n in enumerate(names) if n.startswith("word__")]].nnz == 0


def test_text_components_are_dense_and_fewer_when_the_text_has_few_terms():
    docs = pd.Series(["good film", "bad film", "good plot", "bad plot"] * 3)
    reduced = TextComponents(n_components=100).fit(docs)
    out = reduced.transform(docs)
    assert isinstance(out, np.ndarray) and out.shape[0] == 12
    assert out.shape[1] < 100  # fewer terms (and documents) than components asked for
    with pytest.raises(ValueError, match="text_components must be at least 1"):
        TextComponents(n_components=0).fit(docs)


@pytest.mark.parametrize(("factory", "hyper"), FACTORIES, ids=lambda f: getattr(f, "__name__", ""))
def test_every_classical_model_takes_text_numbers_and_categories(factory, hyper, split):
    X, y, X_test, y_test = split
    model = factory("classification", **hyper).fit(X, y, column_kinds=KINDS)
    assert model.column_kinds_ == KINDS
    assert model.text_columns == ["review"]
    proba = model.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    accuracy = (model.predict(X_test) == y_test).mean()
    if factory is classical.dummy:
        assert accuracy < 0.7
    else:  # the sentiment words decide the label
        assert accuracy > 0.8, accuracy
    # Rows as a CSV or a JSON request delivers them: every value a string.
    raw = X_test.head(8).astype(str)
    raw["review"] = X_test["review"].head(8)
    np.testing.assert_allclose(model.predict_proba(raw), proba[:8])


@pytest.mark.parametrize("factory", [text.tfidf_logreg, text.tfidf_svm, classical.linear])
def test_text_regression(factory):
    frame, y = reviews(300, seed=1)
    target = np.where(y == "fresh", 4.0, 1.0) + np.random.default_rng(0).normal(0, 0.2, 300)
    model = factory("regression").fit(frame[:200], target[:200], column_kinds=KINDS)
    error = np.abs(model.predict(frame[200:]) - target[200:]).mean()
    assert error < 0.8, error  # the mean alone is off by about 1.5


@pytest.mark.parametrize("factory", [text.tfidf_logreg, text.tfidf_svm])
def test_top_ngrams_are_the_sentiment_words_of_each_side(factory, split):
    X, y, _, _ = split
    model = factory("classification").fit(X, y, column_kinds=KINDS)
    (found,) = text.top_ngrams(model, k=4)
    assert found["column"] == "review" and list(found["top"]) == ["fresh", "rotten"]
    for answer, cue in (("fresh", POSITIVE), ("rotten", NEGATIVE)):
        terms = [term for term, _ in found["top"][answer]]
        weights = [weight for _, weight in found["top"][answer]]
        assert len(terms) == 4 and set(terms) <= set(cue), (answer, terms)
        assert weights == sorted(weights, reverse=True) and weights[-1] > 0


def test_top_ngrams_of_several_classes_are_each_classs_own_words():
    rng = np.random.default_rng(0)
    cues = {"cat": ["whiskers", "purr"], "dog": ["bark", "leash"], "fish": ["fins", "gills"]}
    labels = rng.choice(list(cues), size=150)
    docs = [f"{rng.choice(cues[c])} and {rng.choice(['the', 'a', 'one'])} pet" for c in labels]
    X = pd.DataFrame({"review": docs})
    model = text.tfidf_logreg("classification").fit(X, labels, column_kinds={"review": "text"})
    (found,) = text.top_ngrams(model, k=2)
    assert list(found["top"]) == ["cat", "dog", "fish"]
    for label, words in cues.items():
        assert all(t.split()[0] in words for t, _ in found["top"][label]), found["top"][label]


def test_top_ngrams_of_a_regression_and_none_for_other_models(split):
    X, y, _, _ = split
    target = np.where(y == "fresh", 4.0, 1.0)
    model = text.tfidf_logreg("regression").fit(X, target, column_kinds=KINDS)
    (found,) = text.top_ngrams(model, k=6)
    for answer, cue in (("higher", POSITIVE), ("lower", NEGATIVE)):
        # Ridge on 200 reviews also leans on a few filler bigrams: half the terms hold a cue.
        cued = [t for t, _ in found["top"][answer] if set(t.split()) & set(cue)]
        assert len(cued) >= 3, (answer, found["top"][answer])
    # SVD components of the text: weights on components say nothing about n-grams.
    reduced = classical.linear("classification", text_components=4)
    assert text.top_ngrams(reduced.fit(X, y, column_kinds=KINDS)) is None
    forest = classical.random_forest("classification", n_estimators=5, text_components=4)
    assert text.top_ngrams(forest.fit(X, y, column_kinds=KINDS)) is None


def test_tfidf_keeps_the_matrix_sparse_and_the_reduction_dense(split):
    X, y, _, _ = split
    tfidf = text.tfidf_logreg("classification").fit(X, y, column_kinds=KINDS)
    assert hasattr(tfidf.preprocessor.transform(X), "tocsr")
    forest = classical.random_forest("classification", n_estimators=5, text_components=6)
    forest.fit(X, y, column_kinds=KINDS)
    dense = forest.preprocessor.transform(X)
    assert isinstance(dense, np.ndarray)
    assert dense.shape[1] == 1 + 1 + 6  # runtime, genre code, 6 text components


def test_without_the_cards_kinds_a_text_column_is_categorical_as_before(split):
    X, y, X_test, _ = split
    model = classical.linear("classification").fit(X, y)
    assert model.column_kinds_["review"] == "categorical"
    assert model.text_columns == []
    assert list(model.preprocessor.text_columns) == []
    with pytest.warns(UserWarning, match="never seen in training"):
        model.predict(X_test)


def test_a_refit_routes_the_text_columns_afresh(split):
    X, y, X_test, _ = split
    model = classical.linear("classification", text_components=4)
    model.fit(X, y, column_kinds=KINDS)
    model.fit(X.drop(columns="review"), y)  # a fold or a feature subset without the text
    assert model.text_columns == [] and len(model.predict(X_test)) == len(X_test)


def test_the_card_can_only_add_text_kinds(split):
    """Kinds other than text still follow the dtype, exactly as without the card."""
    X, y, _, _ = split
    model = classical.linear("classification").fit(
        X, y, column_kinds={"review": "text", "runtime": "categorical"}
    )
    assert model.column_kinds_["runtime"] == "numeric"


def test_a_model_that_takes_no_text_says_which_columns(split):
    X, y, _, _ = split
    model = TabularModel(
        family="classical",
        task="classification",
        preprocessor=Pixels(image_shape=[1, 1, 1]),
        estimator=DummyClassifier(),
    )
    with pytest.raises(ValueError, match=r"column\(s\) \['review'\] are text.*takes no text"):
        model.fit(X, y, column_kinds=KINDS)


def test_missing_empty_and_unseen_documents_predict(split):
    X, y, _, _ = split
    model = text.tfidf_logreg("classification").fit(X, y, column_kinds=KINDS)
    rows = X.head(3).copy()
    rows["review"] = pd.Series([None, "", "zebra quagga okapi"], index=rows.index, dtype="str")
    assert model.predict_proba(rows).shape == (3, 2)


def test_fitted_text_model_round_trips_through_joblib(split, tmp_path):
    X, y, X_test, _ = split
    model = classical.hist_gradient_boosting("classification", max_iter=10, text_components=5)
    model.fit(X, y, column_kinds=KINDS)
    joblib.dump(model, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))


def test_tfidf_logreg_matches_the_plain_scikit_learn_recipe(split):
    """Same features, same estimator: the contestant adds routing, not a different model."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    X, y, X_test, _ = split
    docs, docs_test = documents(X["review"]), documents(X_test["review"])
    plain = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
        ),
        LogisticRegression(C=4.0, max_iter=2000),
    ).fit(docs, y)
    model = text.tfidf_logreg("classification").fit(X[["review"]], y, column_kinds=KINDS)
    np.testing.assert_allclose(
        model.predict_proba(X_test[["review"]]), plain.predict_proba(docs_test), atol=1e-6
    )


def test_classical_text_models_never_import_torch_or_transformers():
    code = (
        "import sys\n"
        "from conftest import reviews\n"
        "from bakeoff.models import classical, text\n"
        "X, y = reviews(120)\n"
        "kinds = {'review': 'text'}\n"
        "for m in (text.tfidf_logreg('classification'), text.tfidf_svm('classification'),\n"
        "          classical.random_forest('classification', n_estimators=5, text_components=4)):\n"
        "    m.fit(X, y, column_kinds=kinds).predict(X)\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT / "tests",
    )
    assert result.returncode == 0, result.stderr[-2000:]
