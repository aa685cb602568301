"""What the hub and the centre say to each other: envelopes, batches, sealing, signed documents,
enrolment bundles and MQTT topics. Pure; shared by both sides."""
