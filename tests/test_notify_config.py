"""The notify: section (targets, events, no secrets in the YAML), events and the secrets file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taskclf_core.notify.config import load_notify_config
from taskclf_core.notify.events import Event
from taskclf_core.notify.secrets import TargetSecrets, read_target_secrets, redact
from taskclf_core.train.config import ConfigError, default_config_text, parse_retrain_yaml


def test_the_shipped_example_section_uncommented_is_a_valid_config() -> None:
    block = default_config_text().split("# notify:\n", 1)[1]
    text = "notify:\n" + "\n".join(re.sub(r"^# ", "", line) for line in block.splitlines()) + "\n"
    config = parse_retrain_yaml(text).notify
    assert config is not None
    assert [t.name for t in config.targets] == ["ops-webhook", "team-chat"]
    assert config.base_url == "https://retrain.example.com"
    assert config.wanting("run_awaiting_signoff")[0].name == "team-chat"
    assert parse_retrain_yaml(default_config_text()).notify is None  # commented out: no targets


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{targets: [{name: hook, kind: webhook, url: 'https://h.example.com', secret: abc, events: [promoted]}]}",
         "secret must not be in configs/retrain.yaml (pages and runs show it): put it in .streamlit/secrets.toml "
         "under [notify.hook]"),
        ("{targets: [{name: chat, kind: apprise, url: 'https://h.example.com', events: [promoted]}]}",
         "apprise target chat takes no url here: Apprise URLs carry credentials"),
        ("{targets: [{name: hook, kind: webhook, url: 'https://h.example.com/?token=abc', events: [promoted]}]}",
         "a webhook target's url must have no query or fragment"),
        ("{targets: [{name: hook, kind: webhook, url: 'https://u:p@h.example.com/', events: [promoted]}]}",
         "must not carry a user or password"),
        ("{targets: [{name: hook, kind: webhook, events: [promoted]}]}", "webhook target hook needs a url"),
        ("{targets: [{name: hook, kind: webhook, url: 'https://h.example.com', events: [promotion]}]}",
         "notify.targets.0.events.0: Input should be 'run_awaiting_signoff', 'approval_recorded'"),
        ("{targets: [{name: Hook!, kind: webhook, url: 'https://h.example.com', events: [promoted]}]}",
         "a target name is 1-40 characters"),
        ("{base_url: 'ftp://x.example.com'}", "notify.base_url must be an http:// or https:// address"),
        ("{attempts: 0}", "notify.attempts must be a whole number in [1, 10]; got 0"),
        ("{targets: [{name: a, kind: apprise, events: [promoted]}, {name: a, kind: apprise, events: [promoted]}]}",
         "target names must be unique; a appears more than once"),
    ],
)
def test_a_bad_notify_section_is_refused_naming_the_key(section: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_retrain_yaml(f"notify: {section}\n")
    assert message in str(caught.value)


def test_the_notifier_reads_the_section_alone_and_says_what_is_wrong(tmp_path: Path) -> None:
    config = tmp_path / "retrain.yaml"
    assert load_notify_config(config) is None  # no file: no targets
    config.write_text("auto_promote: false\n")
    assert load_notify_config(config) is None  # no section: no targets
    config.write_text("notify: {attempts: 11}\n")
    with pytest.raises(ConfigError, match=r"retrain.yaml notify: attempts must be a whole number in \[1, 10\]; got 11"):
        load_notify_config(config)


def test_secrets_come_from_the_secrets_file_and_are_redacted_from_errors(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text('[auth]\nclient_id = "x"\n[notify.hook]\nsecret = "abcdefghijklmnopqrst"\n'
                    '[notify.chat]\nurls = ["json://bob:hunter2pw@chat.example.com/x"]\n')
    hook, chat = read_target_secrets("hook", path), read_target_secrets("chat", path)
    assert hook.secret == "abcdefghijklmnopqrst" and chat.urls == ("json://bob:hunter2pw@chat.example.com/x",)
    assert read_target_secrets("other", path) == TargetSecrets()
    assert "hunter2pw" not in repr(chat) and "abcdefghijklmnopqrst" not in repr(hook)
    said = "failed at json://bob:hunter2pw@chat.example.com/x: bad password hunter2pw"
    assert redact(said, chat) == "failed at ***: bad password ***"


def test_an_event_without_a_base_url_has_no_link_and_its_text_names_the_facts() -> None:
    event = Event(kind="run_rejected", title="Run r rejected", summary="Gates failed.", run_id="r",
                  figures={"challenger_macro_f1": 0.71234, "champion_macro_f1": None}, gates_failed=["baseline_improvement"],
                  actor="OS user ops", reason="new labels", page="Review?run=r")
    assert event.link(None) is None and event.payload(None)["link"] is None
    assert event.link("https://c.example.com/") == "https://c.example.com/Review?run=r"
    assert event.text("https://c.example.com").splitlines() == [
        "Gates failed.", "Figures: challenger_macro_f1 0.7123", "Gates failed: baseline_improvement",
        "By: OS user ops", "Reason given: new labels", "Open: https://c.example.com/Review?run=r",
    ]
