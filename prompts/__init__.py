"""Prompt and message templates, versioned by folder (``v1``...)."""

from pathlib import Path

PROMPTS_DIR = Path(__file__).parent
