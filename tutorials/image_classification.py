"""Tutorial: handwritten digits (a 5,000-image MNIST subset).

Real data from `../shared/datasets/` (never downloaded). Run from the project
root:

    python tutorials/image_classification.py            # 5-minute search
    python tutorials/image_classification.py --fast     # a quick check

What it shows: uint8 images in, the greedy search over CNN families, the
network-morphism tuner as an alternative, and a saved estimator.
"""

import argparse
import gzip
import os
import tempfile

import numpy as np

import automl_keras as ak

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")


def main(fast: bool) -> None:
    with gzip.open(os.path.join(DATA, "mnist_5k.csv.gz")) as f:
        values = np.loadtxt(f, delimiter=",")
    images = values[:, :-1].reshape(-1, 28, 28).astype("uint8")
    labels = values[:, -1].astype("int64")
    x_train, y_train = images[:4000], labels[:4000]
    x_test, y_test = images[4000:], labels[4000:]
    if fast:
        x_train, y_train = x_train[:600], y_train[:600]

    # tuner="morphism": Bayesian optimisation plus function-preserving morphs
    # of the best trained trials (children start from their parent's weights).
    clf = ak.ImageClassifier(
        tuner="morphism",
        block_type="vanilla",
        time_limit=30 if fast else 300,
        max_trials=2 if fast else None,
        seed=0,
    )
    clf.fit(x_train, y_train, epochs=1 if fast else None, verbose=0)
    print(clf.leaderboard()[["trial_id", "status", "score", "val_accuracy", "epochs"]])
    print("test accuracy:", clf.score(x_test, y_test))

    folder = os.path.join(tempfile.mkdtemp(), "digits")
    clf.save(folder)
    restored = ak.load(folder)
    print(
        "restored predictions equal:",
        (restored.predict(x_test) == clf.predict(x_test)).all(),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fast", action="store_true")
    main(parser.parse_args().fast)
