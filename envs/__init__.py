"""Simulator adapters (ManiSkill3, Robomimic) and the shared trajectory dataset format."""
