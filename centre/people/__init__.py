"""The people the centre follows and who follows them: municipalities, teams, patients and their
care episodes (a patient linked to a hub for a time), as Django models (issue 13)."""
