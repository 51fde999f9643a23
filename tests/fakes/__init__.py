"""Test doubles that speak real protocols (e.g. a fake Telegram Bot API over HTTP)."""
