"""Shared fixtures: each module adds the fixtures and state resets it owns."""

from __future__ import annotations
