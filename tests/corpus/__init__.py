"""The corpus of broken and hostile submissions: see build_corpus.py."""
