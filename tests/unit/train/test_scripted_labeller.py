"""The scripted labeller's answers: the truth, flipped at the stated rate, the same on a rerun."""

from __future__ import annotations

from rbc1000.train.retrain.scripted_labeller import answer, is_mistake

TRUTH = {str(3_900_000_000_000_000_000 + i): ("real" if i % 3 == 0 else "bogus") for i in range(4000)}


def test_no_mistakes_at_rate_zero_and_all_at_rate_one() -> None:
    assert all(answer(a, TRUTH, 0, 0.0) == label for a, label in TRUTH.items())
    assert all(answer(a, TRUTH, 0, 1.0) != label for a, label in TRUTH.items())


def test_mistakes_come_at_the_rate_and_depend_only_on_seed_and_id() -> None:
    wrong = [a for a in TRUTH if is_mistake(a, 7, 0.1)]
    assert 0.08 < len(wrong) / len(TRUTH) < 0.12
    assert wrong == [a for a in TRUTH if is_mistake(a, 7, 0.1)]
    assert wrong != [a for a in TRUTH if is_mistake(a, 8, 0.1)]


def test_alerts_without_truth_are_skipped() -> None:
    assert answer("123", TRUTH, 0, 0.5) == "skip"
