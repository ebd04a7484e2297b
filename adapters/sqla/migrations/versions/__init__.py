"""The revisions, one file each (`NNNN_slug.py`); a revision that has landed is never edited."""
