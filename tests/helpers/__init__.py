"""Helpers that test modules import (never one test module from another): fakes, simulated
worlds and prerequisite checks. Fixtures stay in the conftest.py of the level that uses them."""
