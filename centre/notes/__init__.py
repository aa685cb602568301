"""A nurse's notes on a patient, with an optional reminder date (issue 13, the patient page)."""
