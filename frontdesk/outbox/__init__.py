"""The outbox: what must reach the outside (a ticket, a ticket message, an email, a text), written in the transaction
of the change that causes it, and delivered by the worker with leases, retries and a dead letter."""
