"""`fada-bench claims`: each claim of the paper checked on our runs, with a verdict.

`rules.py` holds the comparison rules (fixed before any of our numbers existed), `paper_claims.py`
the claims as data, `render.py` CLAIMS.md.
"""
from .paper_claims import CLAIMS, Claim, check_claims
from .render import NOTES_HEADING, kept_notes, merged_summary, render
from .rules import (FAILS, HOLDS, NOT_RUN, OPEN, Value, Verdict, all_of, beats, closes_gap, combine, read_sweep, side,
                    tally, within)

__all__ = ["CLAIMS", "FAILS", "HOLDS", "NOTES_HEADING", "NOT_RUN", "OPEN", "Claim", "Value", "Verdict", "all_of",
           "beats", "check_claims", "closes_gap", "combine", "kept_notes", "merged_summary", "read_sweep", "render",
           "side", "tally", "within"]
