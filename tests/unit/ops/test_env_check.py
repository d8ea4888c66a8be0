"""Settings that cannot be silently wrong: unknown variables, bad YAML, bad JSON, bad topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from rbc1000.ops.env_check import OPTIONAL_SETTINGS, env_names, unknown_variables
from rbc1000.ops.settings import ServeSettings, SettingsError, settings_models, settings_or_error


def test_an_unknown_variable_names_the_closest_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBC_BATCH_SIZ", "64")
    with pytest.raises(SettingsError, match="RBC_BATCH_SIZ: did you mean RBC_BATCH_SIZE"):
        settings_or_error(ServeSettings, {"input_topics": ["a"]})


def test_a_misspelt_topic_variable_is_refused_with_the_right_name() -> None:
    problems = unknown_variables({"RBC_LABELING_TOPIC": "x"}, settings_models())
    assert problems == ["unknown environment variable RBC_LABELING_TOPIC: did you mean RBC_LABELLING_TOPIC?"]


def test_settings_of_other_commands_and_script_variables_are_known() -> None:
    environ = {
        "RBC_DATABASE_URL": "sqlite://",  # the label app's
        "RBC_TOPIC": "t",  # replay's and peek's
        "RBC_KAFKA__SASL_PASSWORD": "s",
        "RBC_KAFKA__EXTRA__fetch.max.bytes": "1",
        "RBC_OUTPUT_TOPICS__PARTITIONS": "3",
        "RBC_KAFKA_WORK": "/tmp/k",
        "RBC_TEST_BOOTSTRAP": "x",
        "PATH": "/bin",
    }
    assert unknown_variables(environ, settings_models()) == []


def test_optional_components_variables_are_known_without_importing_them() -> None:
    """The service image lacks the train extra; its environment may still drive the retraining job."""
    environ = {"RBC_LABELS_URL": "http://label:8300", "RBC_RUN_CONFIG": "/cfg/run.yaml"}
    assert unknown_variables({**environ, "RBC_INPUT_TOPICS": "a"}, [ServeSettings]) == []
    problems = unknown_variables({"RBC_LABEL_URL": "x"}, [ServeSettings])
    assert problems == ["unknown environment variable RBC_LABEL_URL: did you mean RBC_LABELS_URL?"]


@pytest.mark.parametrize("target", sorted(OPTIONAL_SETTINGS))
def test_optional_settings_names_match_their_models(target: str) -> None:
    module, name = target.split(":")
    model = getattr(pytest.importorskip(module), name)
    assert set(model.model_fields) == OPTIONAL_SETTINGS[target]
    names, open_prefixes = env_names(model)
    assert not open_prefixes and len(names) == len(OPTIONAL_SETTINGS[target])  # flat: no nested names


def test_yaml_that_does_not_parse_is_one_line_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "rbc.yaml"
    path.write_text("input_topics: [a\nbatch_size: 3\n")
    with pytest.raises(SettingsError) as info:
        settings_or_error(ServeSettings, {}, path)
    assert info.value.problems[0].startswith(f"config file {path} is not valid YAML at line 2, column")


def test_malformed_json_in_a_variable_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBC_KAFKA", "{not json")
    with pytest.raises(SettingsError, match=r'field "kafka".*valid JSON'):
        settings_or_error(ServeSettings, {"input_topics": ["a"]})


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        ({"input_topics": ["^ztf_[0-9"]}, "invalid regular expression '^ztf_[0-9'"),
        ({"input_topics": ["a"], "scored_topic": "bad topic!"}, "invalid topic name 'bad topic!'"),
        ({"input_topics": ["a b"]}, "invalid topic name 'a b'"),
        ({"input_topics": ["a"], "output_framing": "confluent"}, "needs --output-registry-url"),
    ],
)
def test_bad_topics_and_framing_are_settings_errors(flags: dict[str, object], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem.replace("[", r"\[").replace("^", r"\^")):
        settings_or_error(ServeSettings, flags)
