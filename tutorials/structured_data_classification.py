"""Tutorial: income class from the UCI Adult census table.

Real data from `../shared/datasets/` (never downloaded). Run from the project
root:

    python tutorials/structured_data_classification.py            # 5-minute search
    python tutorials/structured_data_classification.py --fast     # a quick check

What it shows: fitting on a raw DataFrame (strings, "?" and empty cells
included), the leaderboard, scoring on the test split, and exporting a model
that takes raw columns and loads with plain Keras.
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
    train = pd.read_csv(os.path.join(DATA, "adult.csv"), skipinitialspace=True)
    test = pd.read_csv(os.path.join(DATA, "adult_test.csv"), skipinitialspace=True)
    test["class"] = test["class"].str.rstrip(".")
    if fast:
        train = train.sample(2000, random_state=0)
        test = test.sample(500, random_state=0)

    clf = ak.StructuredDataClassifier(
        time_limit=30 if fast else 300, max_trials=2 if fast else None, seed=0
    )
    clf.fit(train, target="class", epochs=1 if fast else None, verbose=0)
    print(clf.leaderboard()[["trial_id", "status", "score", "val_accuracy"]])

    features = test.drop(columns="class")
    print("test accuracy:", clf.score(features, test["class"].to_numpy()))

    # The exported model holds all preprocessing: raw columns in.
    path = os.path.join(tempfile.mkdtemp(), "adult.keras")
    clf.export_model().save(path)
    model = keras.models.load_model(path)
    proba = model.predict(ak.model_inputs(model, features), verbose=0)
    print(
        "max difference from predict_proba:",
        np.abs(proba - clf.predict_proba(features)).max(),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fast", action="store_true")
    main(parser.parse_args().fast)
