"""The centre's pages, one module per part of a nurse's work."""
