"""The console: the store admin's pages (handoff and widget settings, integrations, knowledge and its playground, the
overview dashboard, conversations and knowledge gaps). Pages are rendered by the server; their forms talk to the
admin JSON API with the signed-in user's CSRF token."""
