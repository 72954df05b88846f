"""A conversation's record: its row, messages, status events and profiles, the one state machine, its outcome, the
ticket content, and the `Channel` interface. The turn that writes it lives in `frontdesk/conversations/`."""
