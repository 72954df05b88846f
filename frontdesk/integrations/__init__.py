"""Connected helpdesks (Zendesk, Gorgias; Twilio later): their credentials, encrypted, and how replies come back."""
