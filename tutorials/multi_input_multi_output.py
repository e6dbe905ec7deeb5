"""Tutorial: two inputs, two outputs with AutoModel on the UCI Adult table.

Real data from `../shared/datasets/` (never downloaded). Run from the project
root:

    python tutorials/multi_input_multi_output.py            # 5-minute search
    python tutorials/multi_input_multi_output.py --fast     # a quick check

What is real and what is constructed: the rows, columns and labels are the
real Adult census data. The task is constructed for the example: the same
table is split into two inputs (its numerical columns and its categorical
columns, each a `StructuredDataInput` with its own block) and two targets are
predicted together, the real income class (classification) and the real
`hours-per-week` column (regression, removed from the inputs), with the
regression loss weighted down. The searched merge block chooses how the two
branches meet.
"""

import argparse
import os
import tempfile

import keras
import numpy as np
import pandas as pd

import automl_keras as ak

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
NUMERICAL = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss"]


def split(frame: pd.DataFrame):
    """Inputs (numerical and categorical columns) and targets of a table."""
    categorical = [
        c
        for c in frame.columns
        if c not in NUMERICAL and c not in ("class", "hours-per-week")
    ]
    inputs = {"numbers": frame[NUMERICAL], "categories": frame[categorical]}
    targets = {
        "income": frame["class"].str.rstrip(".").to_numpy(),
        "hours": frame["hours-per-week"].to_numpy("float32"),
    }
    return inputs, targets


def main(fast: bool) -> None:
    train = pd.read_csv(os.path.join(DATA, "adult.csv"), skipinitialspace=True)
    test = pd.read_csv(os.path.join(DATA, "adult_test.csv"), skipinitialspace=True)
    if fast:
        train = train.sample(2000, random_state=0)
        test = test.sample(500, random_state=0)
    x_train, y_train = split(train)
    x_test, y_test = split(test)

    numbers = ak.StructuredDataInput(name="numbers")
    categories = ak.StructuredDataInput(
        name="categories",
        column_types={c: "categorical" for c in x_train["categories"]},
    )
    merged = ak.Merge()(
        [
            ak.DenseBlock()(ak.StructuredDataBlock()(numbers)),
            ak.DenseBlock()(ak.StructuredDataBlock()(categories)),
        ]
    )
    model = ak.AutoModel(
        inputs=[numbers, categories],
        outputs=[
            ak.ClassificationHead(name="income")(merged),
            ak.RegressionHead(name="hours", loss_weight=0.2)(merged),
        ],
        time_limit=60 if fast else 300,
        max_trials=2 if fast else None,
        seed=0,
    )
    model.fit(x_train, y_train, epochs=1 if fast else None, verbose=0)
    print(model.leaderboard()[["trial_id", "status", "score"]])

    income, hours = model.predict(x_test)
    print("test accuracy (income):", np.mean(income == y_test["income"]))
    print("test MAE (hours-per-week):", np.mean(np.abs(hours - y_test["hours"])))

    # One exported model, both inputs' raw columns in, both outputs out.
    path = os.path.join(tempfile.mkdtemp(), "adult_two_heads.keras")
    model.export_model().save(path)
    exported = keras.models.load_model(path)
    raw = pd.concat([x_test["numbers"], x_test["categories"]], axis=1)
    outputs = exported.predict(ak.model_inputs(exported, raw), verbose=0)
    print("outputs:", sorted(outputs), {k: v.shape for k, v in outputs.items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fast", action="store_true")
    main(parser.parse_args().fast)
