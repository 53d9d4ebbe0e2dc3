"""The user's folders come from one module and honour SALIENCY_STUDIO_HOME."""

import sys

from core.paths import cache_dir, user_dirs


def test_user_dirs_under_the_override(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCY_STUDIO_HOME", str(tmp_path))
    dirs = user_dirs()
    assert dirs.logs == tmp_path / "logs" and dirs.logs.is_dir() and dirs.cache.is_dir()
    assert cache_dir("sanity", "x") == tmp_path / "cache" / "sanity" / "x"


def test_platform_conventions(tmp_path, monkeypatch):
    monkeypatch.delenv("SALIENCY_STUDIO_HOME")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xc"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    dirs = user_dirs()
    assert dirs.cache == tmp_path / "xc" / "saliency-studio"
    assert dirs.config == tmp_path / ".config" / "saliency-studio"
