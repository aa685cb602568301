"""Updates without a visit (issue 15): signed releases, installed side by side, switched by a
symlink, and rolled back when the new one does not come up. `release` is the pure core (what a
release must look like, which version may replace which, what to keep); `install` the file and
process shell; `commands` the `hub update` command. docs/operations.md, "Updating hubs"."""
