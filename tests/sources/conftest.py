# SPDX-License-Identifier: MIT
"""Shared by the Hub-client tests: the real huggingface_hub client, kept quiet and token-free."""
import huggingface_hub
import pytest


@pytest.fixture(autouse=True)
def _quiet_client(monkeypatch):
    # huggingface_hub's user agent would otherwise fetch an agent registry from huggingface.co
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
