"""The SMS channel over Twilio: phone numbers, the Twilio REST client, sending through the outbox, the suppression
list and delivery status."""
