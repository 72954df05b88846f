"""Handoff targets behind one interface (`base.Connector`): the built-in inbox, Zendesk and Gorgias."""
