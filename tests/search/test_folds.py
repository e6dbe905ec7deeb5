"""Rolling-origin folds of a chronological split."""

import numpy as np
import pytest

from automl_keras.errors import DataError
from automl_keras.search.data import SearchData
from automl_keras.search.folds import mean_score, rolling_folds


def test_rolling_folds_cut_the_validation_part_in_time_order():
    x = np.arange(50, dtype="float32").reshape(50, 1, 1)
    y = np.arange(50, dtype="float32").reshape(50, 1)
    data = SearchData(x_train=x[:38], y_train=y[:38], x_val=x[40:], y_val=y[40:])
    last = rolling_folds(data, 3, gap=2)
    folds = [*last.folds, last]
    # Validation blocks: [40, 44), [44, 47), [47, 50): the first takes the rest.
    assert [f.y_val[:, 0].tolist() for f in folds] == [
        [40, 41, 42, 43],
        [44, 45, 46],
        [47, 48, 49],
    ]
    # Each fold trains on every window before its block but the gap.
    assert [f.y_train[-1, 0] for f in folds] == [37, 41, 44]
    assert [f.num_train for f in folds] == [38, 40, 43]
    assert folds[0].folds == () and last.refit_on_validation
    with pytest.raises(DataError, match="validation_folds=20 needs at least 20"):
        rolling_folds(data, 20, gap=0)


def test_mean_score_weights_by_validation_size():
    assert mean_score([(1.0, 3, 0), (2.0, 1, 5)]) == pytest.approx(1.25)
