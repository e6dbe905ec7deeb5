"""Tutorial: sentiment of movie-review phrases (SST-2).

Real data from `../shared/datasets/sst2` (never downloaded). Run from the
project root:

    python tutorials/text_classification.py            # 10-minute search
    python tutorials/text_classification.py --fast     # a quick check

What it shows: fitting on raw sentences (tokenisation happens inside the
model), the leaderboard of text models (bag of n-grams, CNN, RNN,
Transformer), scoring on the dev split, and exporting a model that takes raw
strings and loads with plain Keras.
"""

import argparse
import os
import tempfile

import keras
import numpy as np
import pandas as pd

import automl_keras as ak

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")


def main(fast: bool) -> None:
    # Tab-separated, no quoting: columns label/sentence (train), label/content (dev).
    train = pd.read_csv(os.path.join(DATA, "sst2", "train.tsv"), sep="\t", quoting=3)
    dev = pd.read_csv(os.path.join(DATA, "sst2", "dev.tsv"), sep="\t", quoting=3)
    if fast:
        train = train.sample(2000, random_state=0)
        dev = dev.sample(200, random_state=0)

    clf = ak.TextClassifier(
        time_limit=60 if fast else 600, max_trials=2 if fast else None, seed=0
    )
    # The DataFrame holds the text column and the label column.
    clf.fit(train, target="label", epochs=1 if fast else None, verbose=0)
    board = clf.leaderboard()
    print(board[["trial_id", "status", "score", "val_accuracy", "parent_trial"]])

    print("test accuracy:", clf.score(dev["content"], dev["label"].to_numpy()))
    print(clf.predict(["a gorgeous , witty film", "a dull , lifeless mess"]))

    # The exported model holds the tokeniser: raw strings in, probabilities out.
    path = os.path.join(tempfile.mkdtemp(), "sst2.keras")
    clf.export_model().save(path)
    model = keras.models.load_model(path)
    proba = model.predict(ak.model_inputs(model, dev["content"]), verbose=0)
    print(
        "max difference from predict_proba:",
        np.abs(proba - clf.predict_proba(dev["content"])).max(),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fast", action="store_true")
    main(parser.parse_args().fast)
