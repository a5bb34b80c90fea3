"""Every reader of outside input keeps its contract on generated input (targets: tests/fuzzing.py).

A small, fixed budget per target (``derandomize``: the same examples on every run), so this
file takes a few seconds; ``python bench/fuzz.py --minutes 5`` searches for minutes with fresh
seeds. A crash found either way becomes a plain regression test with the concrete input, beside
the tests of the module that failed.
"""

import pytest

pytest.importorskip("hypothesis", reason="the fuzz tests need hypothesis: pip install -r requirements-dev.txt")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests import fuzzing  # noqa: E402


def budget(examples: int):
    """``examples`` inputs, the same ones every run, no time limit per input, nothing stored."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@budget(500)
@given(fuzzing.idx_inputs())
def test_idx_reader_gives_an_array_or_an_idx_error(data):
    fuzzing.idx_target(data)


@budget(300)
@given(fuzzing.picture_inputs())
def test_picture_reader_gives_grey_pixels_or_a_picture_error(data):
    fuzzing.picture_target(data)


@budget(200)
@given(fuzzing.grey_pictures())
def test_every_preprocessor_gives_a_frame_or_no_ink(grey):
    fuzzing.preprocess_target(grey)


@budget(150)
@given(fuzzing.card_inputs(fuzzing.NUMPY_MODEL))
def test_numpy_network_cards_give_a_network_or_a_user_error(card):
    fuzzing.numpy_card_target(card)


@budget(100)
@given(fuzzing.card_inputs(fuzzing.PADDLE_MODEL))
def test_checkpoint_cards_give_a_model_or_a_user_error(card):
    fuzzing.paddle_card_target(card)


@budget(100)
@given(fuzzing.card_inputs(fuzzing.EXPORT_MODEL))
def test_export_cards_give_probabilities_or_a_user_error(card):
    fuzzing.export_card_target(card)


@budget(150)
@given(fuzzing.export_file_inputs())
def test_export_files_give_probabilities_or_a_user_error(data):
    fuzzing.export_file_target(data)


@budget(300)
@given(fuzzing.weights_inputs())
def test_weights_reader_gives_plain_data_or_a_weights_error(data):
    fuzzing.weights_target(data)
