"""The centre's equipment: hubs and Bluetooth devices, and their uses in care episodes
(issue 15)."""
