"""The eval harness, labeled cases and simulation (see ../shared/eval-cases.md)."""
