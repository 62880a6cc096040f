"""Typed, validated settings: the single source of truth for every environment.

This package imports no cdktf so that validation (and its tests) runs in milliseconds.
"""
