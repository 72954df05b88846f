"""Connected outside systems (Zendesk, Gorgias; Twilio for SMS): their credentials, encrypted, and how replies
come back."""
