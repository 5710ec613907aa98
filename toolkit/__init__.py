"""nmt: a fairseq-style neural machine translation toolkit."""

__version__ = "0.1.0"
