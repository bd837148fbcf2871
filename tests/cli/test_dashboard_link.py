"""The sign-in link `corral serve` prints: the admin token in the fragment, and only on a loopback address."""

from __future__ import annotations

from corral.app import Listening
from corral.cli.running import dashboard_link


def test_on_a_loopback_address_the_link_carries_the_admin_token_in_its_fragment() -> None:
    link = dashboard_link(Listening("127.0.0.1", 8000), "corral_abc-DEF_123")
    assert link == "http://127.0.0.1:8000/#token=corral_abc-DEF_123"
    assert "?" not in link


def test_elsewhere_or_without_auth_the_link_carries_no_token() -> None:
    assert dashboard_link(Listening("0.0.0.0", 8000), "corral_secret") == "http://0.0.0.0:8000/"
    assert dashboard_link(Listening("10.1.2.3", 8000), "corral_secret") == "http://10.1.2.3:8000/"
    assert dashboard_link(Listening("127.0.0.1", 8000), None) == "http://127.0.0.1:8000/"
    assert dashboard_link(Listening("::1", 8000), "corral_t") == "http://[::1]:8000/#token=corral_t"
