"""The technician's tools on the hub: install a hub's identity (provision), pair and forget devices,
list readings and devices, decode a value by hand. Run from the `hub` command (hub/cli.py); they
ask the daemon over its socket and never write its store."""
