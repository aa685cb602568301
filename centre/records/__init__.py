"""What the centre holds from and for its hubs, as Django models (issue 13): enrolled hubs and
their certificates, readings (with questionnaire answers and message receipts, which hubs send
as readings of their own kinds), the batches accepted, the documents sent down, and the messages
refused."""
