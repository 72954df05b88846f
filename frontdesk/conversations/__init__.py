"""What happens in a conversation: the turn (`turn.py`: a shopper's message, click or email in; the decision, the
replies, the offer, the email question, the handoff and the outcome out) and the team's actions (`team.py`). What is
stored of a conversation is `frontdesk/transcripts/`."""
